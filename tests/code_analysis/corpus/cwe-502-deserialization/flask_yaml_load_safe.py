import yaml
from flask import Flask, request

app = Flask(__name__)


@app.route("/pipelines", methods=["POST"])
def create_pipeline():
    spec = yaml.safe_load(request.data)
    return {"stages": len(spec.get("stages", []))}, 201
