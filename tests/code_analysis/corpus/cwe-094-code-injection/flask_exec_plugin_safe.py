from flask import Flask, abort, request

app = Flask(__name__)


def rotate_logs():
    return "rotated"


def clear_cache():
    return "cleared"


TASKS = {"rotate_logs": rotate_logs, "clear_cache": clear_cache}


@app.route("/admin/run", methods=["POST"])
def run_task():
    task = request.form["task"]
    if task not in TASKS:
        abort(400)
    return {"status": TASKS[task]()}
