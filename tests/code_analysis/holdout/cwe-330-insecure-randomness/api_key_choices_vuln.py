import random
import string


def new_api_key():
    return "".join(random.choices(string.hexdigits, k=40))  # expect: CWE-330
