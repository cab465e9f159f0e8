import hashlib
import random
import time


def new_csrf_token(session):
    seed = f"{time.time()}-{random.random()}"  # expect: CWE-330
    token = hashlib.sha256(seed.encode()).hexdigest()
    session["csrf_token"] = token
    return token
