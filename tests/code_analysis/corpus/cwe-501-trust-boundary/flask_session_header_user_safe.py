import re

from flask import Flask, request, session

app = Flask(__name__)
USERNAME_RE = re.compile(r"[a-z][a-z0-9_]{2,31}")


@app.before_request
def load_user_from_proxy():
    forwarded_user = request.headers.get("X-Forwarded-User")
    if forwarded_user and USERNAME_RE.fullmatch(forwarded_user):
        session["username"] = forwarded_user
