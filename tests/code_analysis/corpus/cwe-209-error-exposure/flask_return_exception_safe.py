import logging

from flask import Flask, request

app = Flask(__name__)
log = logging.getLogger(__name__)


@app.route("/import", methods=["POST"])
def import_contacts():
    try:
        count = process_upload(request.files["contacts"])
    except Exception:
        log.exception("contact import failed")
        return {"error": "import failed; contact support with the time of the request"}, 500
    return {"imported": count}


def process_upload(upload):
    return len(upload.read().splitlines())
