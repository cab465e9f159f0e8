import hashlib


def hash_password(password: str, salt: str) -> str:
    return hashlib.md5((salt + password).encode()).hexdigest()  # expect: CWE-328


def verify_password(password: str, salt: str, stored: str) -> bool:
    return hash_password(password, salt) == stored
