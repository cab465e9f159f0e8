from flask import Flask, request
from ldap3 import ALL, Connection, Server
from ldap3.utils.conv import escape_filter_chars

app = Flask(__name__)
server = Server("ldap://ldap.internal", get_info=ALL)


@app.route("/directory")
def directory_lookup():
    username = escape_filter_chars(request.args["user"])
    conn = Connection(server, auto_bind=True)
    conn.search("ou=people,dc=example,dc=com", f"(&(objectClass=person)(uid={username}))", attributes=["cn", "mail"])
    return {"entries": [e.entry_to_json() for e in conn.entries]}
