from flask import Flask, abort, request, session

app = Flask(__name__)


@app.route("/cart", methods=["PUT"])
def save_cart():
    items = request.get_json()
    if not isinstance(items, list) or not all(isinstance(i, int) for i in items):
        abort(400)
    session["cart"] = [int(i) for i in items]
    return {"saved": True}
