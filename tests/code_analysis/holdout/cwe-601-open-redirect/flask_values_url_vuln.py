from flask import Flask, redirect, request

app = Flask(__name__)


@app.route("/continue")
def continue_to():
    url = request.values.get("url", "/")
    return redirect(url)  # expect: CWE-601
