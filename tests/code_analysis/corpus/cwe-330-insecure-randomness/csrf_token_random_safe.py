import secrets


def new_csrf_token(session):
    token = secrets.token_hex(32)
    session["csrf_token"] = token
    return token
