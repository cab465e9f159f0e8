"""Users and API keys, kept in the state store.

Passwords are argon2id hashes. API keys are 256-bit random strings shown once;
the store keeps only their SHA-256 (a fast hash is right for high-entropy keys).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread

from promptcraft.errors import (
    AuthenticationError,
    IdentityError,
    RecordExistsError,
    UnknownUserError,
    UserExistsError,
)
from promptcraft.identity.passwords import hash_password, verify_password
from promptcraft.store import JSONObject, Record, StateStore, modify

USER_KIND = "user"
API_KEY_KIND = "api_key"
API_KEY_PREFIX = "pc_"
ROLES = frozenset({"admin", "approver", "user"})


@dataclass(frozen=True)
class User:
    username: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: str

    @property
    def active(self) -> bool:
        return not self.disabled


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    username: str
    label: str
    created_at: str


def _user(record: Record) -> User:
    data = record.data
    roles = data.get("roles")
    return User(
        username=record.key,
        roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
        disabled=bool(data.get("disabled")),
        created_at=str(data.get("created_at", "")),
    )


def _check_username(username: str) -> None:
    # ASCII only: Unicode look-alikes would let two people share one visible name.
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
    if not username or len(username) > 64 or not set(username) <= allowed:
        raise IdentityError(
            f"{username!r} is not a valid user name: use 1-64 letters, digits, '.', '_', '@' or '-'"
        )


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class UserDirectory:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def add(self, username: str, password: str, roles: tuple[str, ...] = ("user",)) -> User:
        _check_username(username)
        unknown = set(roles) - ROLES
        if unknown:
            raise IdentityError(f"unknown roles {sorted(unknown)}; choose from {sorted(ROLES)}")
        data: JSONObject = {
            "password_hash": await anyio.to_thread.run_sync(hash_password, password),
            "roles": list(roles),
            "disabled": False,
            "created_at": datetime.now(UTC).isoformat(),
        }
        try:
            record = await self._store.create(USER_KIND, username, data)
        except RecordExistsError:
            raise UserExistsError(f"user {username!r} already exists") from None
        return _user(record)

    async def get(self, username: str) -> User | None:
        record = await self._store.get(USER_KIND, username)
        return None if record is None else _user(record)

    async def list(self) -> list[User]:
        return sorted(
            (_user(r) for r in await self._store.list_records(USER_KIND, limit=100_000)),
            key=lambda u: u.username,
        )

    async def set_disabled(self, username: str, disabled: bool) -> User:
        def change(record: Record) -> JSONObject:
            return {**record.data, "disabled": disabled}

        record = await modify(self._store, USER_KIND, username, change)
        if record is None:
            raise UnknownUserError(f"there is no user {username!r}; see `promptcraft users list`")
        return _user(record)

    async def authenticate(self, username: str, password: str) -> User:
        record = await self._store.get(USER_KIND, username)
        stored = record.data.get("password_hash") if record else None
        # argon2 takes ~0.2 s of CPU by design: keep it off the event loop.
        valid = await anyio.to_thread.run_sync(
            verify_password, stored if isinstance(stored, str) else None, password
        )
        if not valid or not record:
            raise AuthenticationError("wrong user name or password")
        user = _user(record)
        if user.disabled:
            raise AuthenticationError(f"user {username!r} is disabled")
        return user

    async def require_active(self, username: str) -> User:
        user = await self.get(username)
        if user is None or user.disabled:
            raise AuthenticationError(f"user {username!r} does not exist or is disabled")
        return user

    async def create_api_key(self, username: str, label: str = "") -> tuple[str, ApiKey]:
        """Make a key for the user; the plaintext is returned once and never stored."""
        await self.require_active(username)
        key_id = secrets.token_hex(4)
        plaintext = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        created = datetime.now(UTC).isoformat()
        data: JSONObject = {
            "key_id": key_id,
            "username": username,
            "label": label,
            "created_at": created,
            "revoked": False,
        }
        await self._store.create(API_KEY_KIND, hash_api_key(plaintext), data)
        return plaintext, ApiKey(key_id, username, label, created)

    async def verify_api_key(self, plaintext: str) -> User:
        record = await self._store.get(API_KEY_KIND, hash_api_key(plaintext))
        if record is None or record.data.get("revoked"):
            raise AuthenticationError("unknown or revoked API key")
        return await self.require_active(str(record.data["username"]))

    async def revoke_api_key(self, plaintext: str) -> None:
        def change(record: Record) -> JSONObject:
            return {**record.data, "revoked": True}

        if await modify(self._store, API_KEY_KIND, hash_api_key(plaintext), change) is None:
            raise AuthenticationError("unknown API key")
