import random
import string

ALPHABET = string.ascii_letters + string.digits


def make_password_reset_token(length=32):
    return "".join(random.choice(ALPHABET) for _ in range(length))  # expect: CWE-330
