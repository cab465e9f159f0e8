import base64
import pickle

from flask import Flask, request

app = Flask(__name__)


@app.route("/dashboard")
def dashboard():
    raw = request.cookies.get("prefs", "")
    prefs = pickle.loads(base64.b64decode(raw)) if raw else {}  # expect: CWE-502
    return {"layout": prefs.get("layout", "grid")}
