import hashlib
import hmac


def sign_payload(secret: bytes, body: bytes) -> str:
    return hashlib.sha1(secret + body).hexdigest()  # expect: CWE-328


def verify_signature(secret: bytes, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign_payload(secret, body), signature)
