from flask import Flask, abort, request
from werkzeug.utils import safe_join

app = Flask(__name__)


@app.route("/export")
def export():
    path = safe_join("/var/data/exports", request.args["f"])
    if path is None:
        abort(404)
    with open(path, "rb") as fh:
        return fh.read()
