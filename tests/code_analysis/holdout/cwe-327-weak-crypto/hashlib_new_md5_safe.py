import bcrypt


def store_password(db, username, password):
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    db.execute("UPDATE users SET pw = ? WHERE name = ?", (digest, username))
