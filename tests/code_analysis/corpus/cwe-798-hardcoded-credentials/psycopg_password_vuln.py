import psycopg2


def get_connection():
    return psycopg2.connect(
        host="db.internal",
        dbname="payments",
        user="payments_app",
        password="Pa55w0rd!payments",  # expect: CWE-798
    )
