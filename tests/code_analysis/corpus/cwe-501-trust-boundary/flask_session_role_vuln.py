from flask import Flask, redirect, request, session

app = Flask(__name__)


@app.route("/preferences", methods=["POST"])
def set_preferences():
    session["role"] = request.form.get("role", "viewer")  # expect: CWE-501
    session["theme"] = "dark" if request.form.get("dark") else "light"
    return redirect("/dashboard")
