from urllib.parse import urlparse

import requests
from flask import Flask, abort, request

app = Flask(__name__)
ALLOWED_HOSTS = {"example.com", "www.example.com", "cdn.example.com"}


@app.route("/link-preview")
def link_preview():
    url = request.args["url"]
    if urlparse(url).hostname not in ALLOWED_HOSTS:
        abort(400)
    resp = requests.get(url, timeout=5)
    return {"status": resp.status_code, "length": len(resp.content)}
