import jwt
from flask import Flask, abort, request

app = Flask(__name__)


@app.route("/me")
def me():
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not token:
        abort(401)
    claims = jwt.decode(token, options={"verify_signature": False})  # expect: CWE-347
    return {"user": claims["sub"]}
