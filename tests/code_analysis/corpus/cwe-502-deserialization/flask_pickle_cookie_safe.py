import base64
import json

from flask import Flask, request

app = Flask(__name__)


@app.route("/dashboard")
def dashboard():
    raw = request.cookies.get("prefs", "")
    prefs = json.loads(base64.b64decode(raw)) if raw else {}
    return {"layout": prefs.get("layout", "grid")}
