import secrets

from flask import Flask, make_response

app = Flask(__name__)


@app.route("/start")
def start_session():
    session_id = "%032x" % secrets.randbits(128)
    resp = make_response({"started": True})
    resp.set_cookie("sid", session_id, secure=True, httponly=True, samesite="Lax")
    return resp
