from flask import Flask
from flask_wtf import CSRFProtect

app = Flask(__name__)
app.config["WTF_CSRF_ENABLED"] = False  # expect: CWE-352
csrf = CSRFProtect(app)


@app.route("/transfer", methods=["POST"])
def transfer():
    return {"queued": True}
