from jose import jwt


def claims_of(token, key):
    return jwt.decode(token, key, options={"verify_signature": False})  # expect: CWE-347
