from flask import Flask, request
from ldap3 import Connection, Server
from ldap3.utils.conv import escape_filter_chars

app = Flask(__name__)


@app.route("/lookup")
def lookup():
    email = request.args.get("email", "")
    conn = Connection(Server("ldap://dir.example.com"), auto_bind=True)
    conn.search("dc=example,dc=com", "(mail=" + escape_filter_chars(email) + ")", attributes=["uid"])
    return {"found": len(conn.entries)}
