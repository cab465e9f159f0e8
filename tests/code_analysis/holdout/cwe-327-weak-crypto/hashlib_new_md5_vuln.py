import hashlib


def store_password(db, username, password):
    digest = hashlib.new("md5", password.encode()).hexdigest()  # expect: CWE-328
    db.execute("UPDATE users SET pw = ? WHERE name = ?", (digest, username))
