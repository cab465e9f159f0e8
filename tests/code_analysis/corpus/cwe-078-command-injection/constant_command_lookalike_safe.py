import subprocess

from flask import Flask

app = Flask(__name__)


@app.route("/health/disk")
def disk_usage():
    out = subprocess.check_output("df -h / | tail -1", shell=True, text=True)
    return {"df": out.strip()}
