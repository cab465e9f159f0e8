"""Signing keys for JWTs: configured, or generated once into the data directory."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from promptcraft.errors import ConfigurationError
from promptcraft.settings import CoreSettings

logger = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret
_HOW = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
_PLACEHOLDER_WORDS = ("change", "your", "secret", "example", "placeholder", "default", "xxxx")


@dataclass(frozen=True)
class SigningKeys:
    algorithm: str
    signing_key: str | bytes
    verifying_key: str | bytes


def check_secret(secret: str, setting: str = "PROMPTCRAFT_JWT_SECRET") -> None:
    """Refuse secrets that are short, placeholders, or of too few distinct characters."""
    lowered = secret.lower()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{setting} is {len(secret.encode())} bytes; it must be at least "
            f"{MIN_SECRET_BYTES} random bytes: {_HOW}, or unset it to have one generated"
        )
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(secret)) < 12:
        raise ConfigurationError(
            f"{setting} looks like a placeholder, not a random secret: {_HOW}, "
            "or unset it to have one generated"
        )


def _generated_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning("%s was readable by others (mode %o); tightening to 0600", path, mode)
            path.chmod(0o600)
        secret = path.read_text().strip()
        check_secret(secret, setting=str(path))
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    logger.info("generated a JWT signing secret in %s", path)
    return secret


def load_signing_keys(settings: CoreSettings) -> SigningKeys:
    if settings.jwt_algorithm == "RS256":
        private, public = settings.jwt_private_key_file, settings.jwt_public_key_file
        if public is None:
            raise ConfigurationError(
                "PROMPTCRAFT_JWT_ALGORITHM=RS256 needs PROMPTCRAFT_JWT_PUBLIC_KEY_FILE (PEM), "
                "and PROMPTCRAFT_JWT_PRIVATE_KEY_FILE where tokens are issued; make a pair with "
                "openssl genrsa -out jwt.pem 3072 && openssl rsa -in jwt.pem -pubout -out jwt.pub"
            )
        try:
            verifying = public.read_bytes()
            signing = private.read_bytes() if private else b""
        except OSError as exc:
            raise ConfigurationError(f"cannot read the RS256 key file: {exc}") from exc
        return SigningKeys("RS256", signing, verifying)
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        check_secret(secret)
    else:
        secret = _generated_secret(settings.data_dir)
    return SigningKeys("HS256", secret, secret)
