from flask import Flask, request, session

app = Flask(__name__)


@app.before_request
def load_user_from_proxy():
    forwarded_user = request.headers.get("X-Forwarded-User")
    if forwarded_user:
        session["username"] = forwarded_user  # expect: CWE-501
