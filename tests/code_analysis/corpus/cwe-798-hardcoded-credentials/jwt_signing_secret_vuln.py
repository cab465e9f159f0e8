import datetime

import jwt

JWT_SECRET = "super-secret-signing-key-do-not-share"  # expect: CWE-798


def issue_token(user_id):
    now = datetime.datetime.now(datetime.timezone.utc)
    payload = {"sub": str(user_id), "iat": now, "exp": now + datetime.timedelta(hours=1)}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")
