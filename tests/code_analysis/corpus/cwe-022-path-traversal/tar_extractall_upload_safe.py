import tarfile

from flask import Flask, request

app = Flask(__name__)


@app.route("/themes", methods=["POST"])
def install_theme():
    upload = request.files["theme"]
    with tarfile.open(fileobj=upload.stream, mode="r:gz") as archive:
        archive.extractall("/srv/app/themes", filter="data")
    return {"installed": True}
