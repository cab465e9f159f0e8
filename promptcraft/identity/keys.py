"""Signing keys for JWTs: configured, or generated once into the data directory."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from promptcraft.errors import ConfigurationError
from promptcraft.settings import CoreSettings

logger = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret
_HOW = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
# Whole placeholder phrases, not substrings: a random secret may well contain "xxxx" or "your".
_PLACEHOLDER = re.compile(
    r"(change[-_ ]?(me|it|this)|your[-_ ][a-z_ -]*(secret|key|token|password)|replace[-_ ]?me|placeholder|"
    r"example[-_ ]?(key|secret)|secret[-_ ]?key|in[-_ ]production|^(x+|0+|secret|password)$)",
    re.IGNORECASE,
)
_MIN_DISTINCT = 12


@dataclass(frozen=True)
class SigningKeys:
    algorithm: str
    signing_key: str | bytes
    verifying_key: str | bytes


def looks_like_placeholder(value: str, *, min_distinct: int = _MIN_DISTINCT) -> bool:
    """A known placeholder phrase, or too few distinct characters to be random.

    Whole phrases only: a random secret may well contain "xxxx" or "your" by chance.
    """
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < min_distinct


def check_secret(secret: str, setting: str = "PROMPTCRAFT_JWT_SECRET") -> None:
    """Refuse configured secrets that are short, known placeholders, or of too few characters."""
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{setting} is {size} bytes; it must be at least {MIN_SECRET_BYTES} random bytes: "
            f"{_HOW}, or unset it to have one generated"
        )
    if looks_like_placeholder(secret):
        raise ConfigurationError(
            f"{setting} looks like a placeholder, not a random secret: {_HOW}, "
            "or unset it to have one generated"
        )


def _read_generated(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s was readable by others (mode %o); tightening to 0600", path, mode)
        path.chmod(0o600)
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"the generated signing secret in {path} is damaged ({len(secret.encode())} bytes); "
            "delete the file to generate a new one (existing tokens stop working)"
        )
    return secret


def _generated_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        return _read_generated(path)
    # Written whole to a private temp file, then linked into place: a process starting at
    # the same moment sees either no file or the complete one, never an empty one.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".jwt_secret.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
            os.link(tmp, path)
            logger.info("generated a JWT signing secret in %s", path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return _read_generated(path)


def _rsa_pem(path: Path, *, private: bool) -> bytes:
    setting = f"PROMPTCRAFT_JWT_{'PRIVATE' if private else 'PUBLIC'}_KEY_FILE"
    try:
        pem = path.read_bytes()
        key = (
            serialization.load_pem_private_key(pem, password=None)
            if private
            else serialization.load_pem_public_key(pem)
        )
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"{setting}={path} is not a readable PEM RSA key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise ConfigurationError(f"{setting} must be an RSA key of at least {MIN_RSA_BITS} bits")
    return pem


def load_signing_keys(settings: CoreSettings) -> SigningKeys:
    if settings.jwt_algorithm == "RS256":
        private, public = settings.jwt_private_key_file, settings.jwt_public_key_file
        if public is None:
            raise ConfigurationError(
                "PROMPTCRAFT_JWT_ALGORITHM=RS256 needs PROMPTCRAFT_JWT_PUBLIC_KEY_FILE (PEM), "
                "and PROMPTCRAFT_JWT_PRIVATE_KEY_FILE where tokens are issued; make a pair with "
                "openssl genrsa -out jwt.pem 3072 && openssl rsa -in jwt.pem -pubout -out jwt.pub"
            )
        signing = _rsa_pem(private, private=True) if private else b""
        return SigningKeys("RS256", signing, _rsa_pem(public, private=False))
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        check_secret(secret)
    else:
        secret = _generated_secret(settings.data_dir)
    return SigningKeys("HS256", secret, secret)
