import psycopg2
from flask import Flask

app = Flask(__name__)


@app.get("/users/<user_id>/orders")
def user_orders(user_id):
    with psycopg2.connect("dbname=shop") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, total FROM orders WHERE user_id = '%s'" % (user_id,))  # expect: CWE-89
        return {"orders": cursor.fetchall()}
