import psycopg2
from flask import Flask, request

app = Flask(__name__)
conn = psycopg2.connect(dbname="crm")


@app.route("/login", methods=["POST"])
def login():
    username = request.form["username"]
    query = "SELECT id, password_hash FROM accounts WHERE username = %s"
    with conn.cursor() as cur:
        cur.execute(query, (username,))
        row = cur.fetchone()
    if row is None:
        return "unknown user", 404
    return {"id": row[0]}
