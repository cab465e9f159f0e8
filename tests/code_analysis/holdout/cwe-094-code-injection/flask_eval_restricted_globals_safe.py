import ast

from flask import Flask, request

app = Flask(__name__)


@app.route("/filter", methods=["POST"])
def apply_filter():
    rule = request.form["filter"]
    keep = ast.literal_eval(rule)
    return {"keep": bool(keep)}
