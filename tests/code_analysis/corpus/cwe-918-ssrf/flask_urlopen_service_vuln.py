import json
from urllib.request import urlopen

from flask import Flask, request

app = Flask(__name__)


@app.route("/service-status")
def service_status():
    service = request.args.get("service", "billing")
    with urlopen(f"http://{service}/healthz", timeout=3) as resp:  # expect: CWE-918
        return json.load(resp)
