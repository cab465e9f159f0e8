import logging

from flask import Flask, request

app = Flask(__name__)
log = logging.getLogger(__name__)


@app.route("/import", methods=["POST"])
def import_contacts():
    try:
        count = process_upload(request.files["contacts"])
    except Exception as exc:
        return {"error": str(exc)}, 500  # expect: CWE-209
    return {"imported": count}


def process_upload(upload):
    return len(upload.read().splitlines())
