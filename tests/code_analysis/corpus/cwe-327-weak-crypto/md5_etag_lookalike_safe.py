import hashlib

from flask import Flask, Response

app = Flask(__name__)


@app.route("/static-bundle.js")
def bundle():
    body = open("dist/bundle.js", "rb").read()
    etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    return Response(body, mimetype="application/javascript", headers={"ETag": etag})
