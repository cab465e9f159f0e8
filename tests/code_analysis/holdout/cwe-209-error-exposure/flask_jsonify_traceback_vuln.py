import traceback

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/sync", methods=["POST"])
def sync():
    try:
        run_sync(request.get_json())
    except Exception:
        return jsonify(error=traceback.format_exc()), 500  # expect: CWE-209
    return jsonify(ok=True)


def run_sync(payload):
    return payload["items"]
