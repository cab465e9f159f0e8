from flask import Flask, request
from ldap3 import Connection, Server

app = Flask(__name__)


@app.route("/lookup")
def lookup():
    email = request.args.get("email", "")
    conn = Connection(Server("ldap://dir.example.com"), auto_bind=True)
    conn.search("dc=example,dc=com", "(mail=" + email + ")", attributes=["uid"])  # expect: CWE-90
    return {"found": len(conn.entries)}
