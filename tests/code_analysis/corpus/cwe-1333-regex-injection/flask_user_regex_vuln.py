import re

from flask import Flask, request

app = Flask(__name__)
PRODUCTS = ["red shirt", "blue shirt", "green hat"]


@app.route("/filter")
def filter_products():
    pattern = request.args.get("q", "")
    matches = [p for p in PRODUCTS if re.search(pattern, p)]  # expect: CWE-1333
    return {"matches": matches}
