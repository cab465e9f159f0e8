import os

from flask import Flask, request

app = Flask(__name__)
app.config["UPLOAD_FOLDER"] = "/srv/app/uploads"


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["document"]
    destination = os.path.join(app.config["UPLOAD_FOLDER"], f.filename)
    f.save(destination)  # expect: CWE-22
    return {"saved": f.filename}, 201
