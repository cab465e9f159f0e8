import ldap
from flask import Flask, request

app = Flask(__name__)


@app.route("/auth", methods=["POST"])
def ldap_login():
    user = request.form["user"]
    password = request.form["password"]
    conn = ldap.initialize("ldaps://ldap.example.com")
    dn = "uid=%s,ou=people,dc=example,dc=com" % user
    try:
        conn.simple_bind_s(dn, password)  # expect: CWE-90
    except ldap.INVALID_CREDENTIALS:
        return {"ok": False}, 401
    return {"ok": True}
