from flask import Flask, abort, redirect, request, session

app = Flask(__name__)
ROLES = {"viewer", "editor"}


@app.route("/preferences", methods=["POST"])
def set_preferences():
    role = request.form.get("role", "viewer")
    if role not in ROLES:
        abort(400)
    session["role"] = role
    session["theme"] = "dark" if request.form.get("dark") else "light"
    return redirect("/dashboard")
