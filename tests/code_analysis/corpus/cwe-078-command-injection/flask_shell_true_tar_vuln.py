import subprocess

from flask import Flask, request, send_file

app = Flask(__name__)
EXPORT_DIR = "/srv/exports"


@app.route("/export", methods=["POST"])
def export_project():
    name = request.form["project"]
    archive = f"{EXPORT_DIR}/export.tgz"
    subprocess.run(f"tar czf {archive} -C /srv/projects {name}", shell=True, check=True)  # expect: CWE-78
    return send_file(archive)
