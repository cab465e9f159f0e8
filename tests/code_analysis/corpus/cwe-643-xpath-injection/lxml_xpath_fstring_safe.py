from flask import Flask, request
from lxml import etree

app = Flask(__name__)
USERS = etree.parse("/srv/app/users.xml")


@app.route("/user")
def find_user():
    name = request.args.get("name", "")
    nodes = USERS.xpath("//user[name/text()=$name]/email/text()", name=name)
    return {"emails": [str(n) for n in nodes]}
