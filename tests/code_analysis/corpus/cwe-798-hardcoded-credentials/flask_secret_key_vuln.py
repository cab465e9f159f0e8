from flask import Flask

app = Flask(__name__)
app.config["SECRET_KEY"] = "9f2c1e7a-flask-session-signing-key-4b8d"  # expect: CWE-798


@app.route("/")
def index():
    return "ok"
