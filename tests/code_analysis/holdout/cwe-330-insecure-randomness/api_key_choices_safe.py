import secrets
import string


def new_api_key():
    return "".join(secrets.choice(string.hexdigits) for _ in range(40))
