from flask import Flask, request

app = Flask(__name__)


def rotate_logs():
    return "rotated"


def clear_cache():
    return "cleared"


@app.route("/admin/run", methods=["POST"])
def run_task():
    task = request.form["task"]
    scope = {"rotate_logs": rotate_logs, "clear_cache": clear_cache}
    exec("result = " + task + "()", scope)  # expect: CWE-95
    return {"status": scope["result"]}
