from flask import Flask, request, session

app = Flask(__name__)


@app.route("/cart", methods=["PUT"])
def save_cart():
    session["cart"] = request.get_json()  # expect: CWE-501
    return {"saved": True}
