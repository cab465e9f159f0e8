import datetime
import os

import jwt

JWT_SECRET = os.environ["JWT_SECRET"]


def issue_token(user_id):
    now = datetime.datetime.now(datetime.timezone.utc)
    payload = {"sub": str(user_id), "iat": now, "exp": now + datetime.timedelta(hours=1)}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")
