import defusedxml.ElementTree as ET
from flask import Flask, request

app = Flask(__name__)


@app.route("/orders", methods=["POST"])
def create_order():
    root = ET.fromstring(request.get_data())
    sku = root.findtext("sku")
    qty = int(root.findtext("quantity", "1"))
    return {"sku": sku, "quantity": qty}, 201
