import requests
from flask import Flask, abort, request

app = Flask(__name__)
SERVICES = {"billing": "http://billing.internal", "search": "http://search.internal"}


@app.route("/probe")
def probe():
    base = SERVICES.get(request.args["host"])
    if base is None:
        abort(404)
    r = requests.get(f"{base}/api/status", timeout=3)
    return {"status": r.status_code}
