from flask import Flask, redirect, request

app = Flask(__name__)


@app.route("/continue")
def continue_to():
    url = request.values.get("url", "/")
    if not url.startswith("/") or url.startswith("//"):
        url = "/"
    return redirect(url)
