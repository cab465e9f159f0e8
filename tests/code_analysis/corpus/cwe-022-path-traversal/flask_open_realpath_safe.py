import os

from flask import Flask, abort, request

app = Flask(__name__)
DOCS_ROOT = os.path.realpath("/srv/app/docs")


@app.route("/docs")
def read_doc():
    page = request.args.get("page", "index.md")
    full = os.path.realpath(os.path.join(DOCS_ROOT, page))
    if not full.startswith(DOCS_ROOT + os.sep):
        abort(404)
    with open(full, encoding="utf-8") as fh:
        return {"content": fh.read()}
