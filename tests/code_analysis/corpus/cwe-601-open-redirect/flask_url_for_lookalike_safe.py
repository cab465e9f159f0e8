from flask import Flask, redirect, request, url_for

app = Flask(__name__)


@app.route("/profile/<username>/edit", methods=["POST"])
def edit_profile(username):
    save_profile(username, request.form)
    return redirect(url_for("show_profile", username=username))


def save_profile(username, form):
    return None
