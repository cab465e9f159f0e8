"""JWTs for every service: issued and verified in one place.

The algorithm is pinned (never read from the token header); exp, iat, iss, aud,
sub and jti are required; revocation is by jti, kept in the store until the
token would have expired anyway.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from promptcraft.errors import AuthenticationError, ConfigurationError, RecordExistsError
from promptcraft.identity.keys import SigningKeys
from promptcraft.settings import CoreSettings
from promptcraft.store import StateStore

REVOKED_KIND = "revoked_jti"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]


@dataclass(frozen=True)
class Claims:
    subject: str
    scopes: tuple[str, ...]
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: Claims


class TokenService:
    def __init__(self, settings: CoreSettings, keys: SigningKeys, store: StateStore) -> None:
        self._keys = keys
        self._store = store
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._lifetime = timedelta(hours=settings.jwt_expiration_hours)
        self._leeway = timedelta(seconds=settings.jwt_leeway_seconds)

    def issue(
        self, subject: str, *, scopes: tuple[str, ...] = (), lifetime: timedelta | None = None
    ) -> IssuedToken:
        if not self._keys.signing_key:
            raise ConfigurationError(
                "this service can verify tokens but not issue them: "
                "set PROMPTCRAFT_JWT_PRIVATE_KEY_FILE"
            )
        now = datetime.now(UTC).replace(microsecond=0)
        claims = Claims(
            subject, scopes, secrets.token_hex(16), now, now + (lifetime or self._lifetime)
        )
        payload = {
            "sub": subject,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": claims.issued_at,
            "nbf": claims.issued_at,
            "exp": claims.expires_at,
            "jti": claims.jti,
            "scope": " ".join(scopes),
        }
        token = jwt.encode(payload, self._keys.signing_key, algorithm=self._keys.algorithm)
        return IssuedToken(token, claims)

    async def verify(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._keys.verifying_key,
                algorithms=[self._keys.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired; get a new one") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"the token is not valid: {exc}") from None
        jti = str(payload["jti"])
        if await self._store.get(REVOKED_KIND, jti) is not None:
            raise AuthenticationError("the token has been revoked; get a new one")
        scope = payload.get("scope", "")
        if not isinstance(scope, str):
            # RFC 8693 section 4.2: a space-separated string. Read any other shape as "no
            # scopes" and a narrowed token would become a full-access one.
            raise AuthenticationError(
                "the token is not valid: its 'scope' claim must be one string of space-separated "
                "scopes; get a new token from this service (`promptcraft token`)"
            )
        return Claims(
            subject=str(payload["sub"]),
            scopes=tuple(scope.split()),
            jti=jti,
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )

    async def revoke(self, claims: Claims) -> None:
        remaining = claims.expires_at - datetime.now(UTC) + self._leeway
        if remaining.total_seconds() > 0:
            with contextlib.suppress(RecordExistsError):  # revoked already: nothing to do
                await self._store.create(
                    REVOKED_KIND, claims.jti, {"sub": claims.subject}, ttl=remaining
                )
