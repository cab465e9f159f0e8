import json

from flask import Flask, request

app = Flask(__name__)


@app.route("/models", methods=["POST"])
def upload_model():
    model = json.load(request.files["model"])
    return {"type": type(model).__name__}
