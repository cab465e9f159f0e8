from flask import Flask, request

app = Flask(__name__)


@app.route("/filter", methods=["POST"])
def apply_filter():
    rule = request.form["filter"]
    keep = eval(rule, {"__builtins__": {}})  # expect: CWE-95
    return {"keep": bool(keep)}
