import os

import jwt
from flask import Flask, abort, request

app = Flask(__name__)


@app.route("/me")
def me():
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not token:
        abort(401)
    claims = jwt.decode(token, os.environ["JWT_PUBLIC_KEY"], algorithms=["RS256"], audience="api")
    return {"user": claims["sub"]}
