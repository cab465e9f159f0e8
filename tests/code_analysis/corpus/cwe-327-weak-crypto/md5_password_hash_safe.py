import hashlib
import hmac


def hash_password(password: str, salt: str) -> str:
    return hashlib.scrypt(password.encode(), salt=salt.encode(), n=2**14, r=8, p=1).hex()


def verify_password(password: str, salt: str, stored: str) -> bool:
    return hmac.compare_digest(hash_password(password, salt), stored)
