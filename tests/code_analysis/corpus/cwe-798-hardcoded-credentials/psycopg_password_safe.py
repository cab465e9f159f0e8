import os

import psycopg2


def get_connection():
    return psycopg2.connect(
        host="db.internal",
        dbname="payments",
        user="payments_app",
        password=os.environ["PAYMENTS_DB_PASSWORD"],
    )
