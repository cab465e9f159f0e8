import requests
from flask import Flask, request

app = Flask(__name__)


@app.route("/link-preview")
def link_preview():
    url = request.args["url"]
    resp = requests.get(url, timeout=5)  # expect: CWE-918
    return {"status": resp.status_code, "length": len(resp.content)}
