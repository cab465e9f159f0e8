import os

from flask import Flask, request
from werkzeug.utils import secure_filename

app = Flask(__name__)
app.config["UPLOAD_FOLDER"] = "/srv/app/uploads"


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["document"]
    destination = os.path.join(app.config["UPLOAD_FOLDER"], secure_filename(f.filename))
    f.save(destination)
    return {"saved": f.filename}, 201
