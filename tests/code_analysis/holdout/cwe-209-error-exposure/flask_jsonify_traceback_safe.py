import logging

from flask import Flask, jsonify, request

app = Flask(__name__)
log = logging.getLogger(__name__)


@app.route("/sync", methods=["POST"])
def sync():
    try:
        run_sync(request.get_json())
    except Exception:
        log.exception("sync failed")
        return jsonify(error="sync failed"), 500
    return jsonify(ok=True)


def run_sync(payload):
    return payload["items"]
