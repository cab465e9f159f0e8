import json
from urllib.request import urlopen

from flask import Flask, abort, request

app = Flask(__name__)
INTERNAL_SERVICES = ("billing", "inventory", "shipping")


@app.route("/service-status")
def service_status():
    service = request.args.get("service", "billing")
    if service not in INTERNAL_SERVICES:
        abort(404)
    with urlopen(f"http://{service}/healthz", timeout=3) as resp:
        return json.load(resp)
