import yaml
from flask import Flask, request

app = Flask(__name__)


@app.route("/pipelines", methods=["POST"])
def create_pipeline():
    spec = yaml.load(request.data, Loader=yaml.Loader)  # expect: CWE-502
    return {"stages": len(spec.get("stages", []))}, 201
