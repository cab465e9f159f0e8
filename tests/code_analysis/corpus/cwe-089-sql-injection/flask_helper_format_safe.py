import sqlite3

from flask import Flask, abort, request

app = Flask(__name__)


def find_invoice(conn, invoice_no):
    sql = "SELECT total, status FROM invoices WHERE number = ?"
    return conn.execute(sql, (invoice_no,)).fetchone()


@app.route("/invoice")
def invoice():
    conn = sqlite3.connect("billing.db")
    row = find_invoice(conn, request.args["no"])
    if row is None:
        abort(404)
    return {"total": row[0], "status": row[1]}
