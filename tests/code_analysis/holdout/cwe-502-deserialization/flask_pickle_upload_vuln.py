import pickle

from flask import Flask, request

app = Flask(__name__)


@app.route("/models", methods=["POST"])
def upload_model():
    model = pickle.load(request.files["model"])  # expect: CWE-502
    return {"type": type(model).__name__}
