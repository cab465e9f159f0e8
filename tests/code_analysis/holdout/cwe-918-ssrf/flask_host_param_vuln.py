import requests
from flask import Flask, request

app = Flask(__name__)


@app.route("/probe")
def probe():
    host = request.args["host"]
    r = requests.get(f"http://{host}/api/status", timeout=3)  # expect: CWE-918
    return {"status": r.status_code}
