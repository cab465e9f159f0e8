from flask import Flask, request

app = Flask(__name__)


@app.route("/export")
def export():
    with open(f"/var/data/exports/{request.args['f']}", "rb") as fh:  # expect: CWE-22
        return fh.read()
