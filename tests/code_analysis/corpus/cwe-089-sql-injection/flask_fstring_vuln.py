import sqlite3

from flask import Flask, jsonify, request

app = Flask(__name__)


def get_db():
    return sqlite3.connect("app.db")


@app.route("/users")
def search_users():
    name = request.args.get("name", "")
    cur = get_db().cursor()
    cur.execute(f"SELECT id, name, email FROM users WHERE name LIKE '%{name}%'")  # expect: CWE-89
    rows = cur.fetchall()
    return jsonify([{"id": r[0], "name": r[1], "email": r[2]} for r in rows])
