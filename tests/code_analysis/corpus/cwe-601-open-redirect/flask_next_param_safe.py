from urllib.parse import urlparse

from flask import Flask, redirect, request, session, url_for

app = Flask(__name__)


@app.route("/login", methods=["POST"])
def login():
    session["user"] = authenticate(request.form["username"], request.form["password"])
    next_url = request.args.get("next") or url_for("dashboard")
    if urlparse(next_url).netloc or urlparse(next_url).scheme:
        next_url = url_for("dashboard")
    return redirect(next_url)


def authenticate(username, password):
    return username
