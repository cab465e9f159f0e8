from flask import Flask, make_response, request

app = Flask(__name__)


@app.route("/login", methods=["POST"])
def login():
    token = create_session(request.form["username"], request.form["password"])
    resp = make_response({"ok": True})
    resp.set_cookie("session_token", token, secure=True, httponly=True, samesite="Strict")
    return resp


def create_session(username, password):
    return "opaque"
