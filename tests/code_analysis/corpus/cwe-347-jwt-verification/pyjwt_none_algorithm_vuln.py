import jwt

from .config import settings


def parse_service_token(token: str) -> dict:
    return jwt.decode(token, settings.SERVICE_KEY, algorithms=["HS256", "none"])  # expect: CWE-347
