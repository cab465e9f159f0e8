"""The foundation's error hierarchy.

Every message is written for the person who has to act on it: it names the
setting, command or input to change.
"""

from __future__ import annotations


class PromptCraftError(Exception):
    """Base of every error the foundation raises on purpose."""


class ConfigurationError(PromptCraftError):
    """A setting is missing, malformed or unsafe; the message names it."""


class StoreError(PromptCraftError):
    """The state store failed; the message names the setting to check."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or opened."""


class RecordNotFoundError(StoreError):
    """The record does not exist (or has expired)."""


class RecordExistsError(StoreError):
    """A record with this key already exists."""


class VersionConflictError(StoreError):
    """Someone else updated the record since it was read; re-read and retry."""

    def __init__(self, kind: str, key: str, expected: int, actual: int | None) -> None:
        self.kind = kind
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{kind}:{key} is at version {actual}, not {expected}: "
            "another writer changed it first; read it again and reapply the change"
        )


class IdentityError(PromptCraftError):
    """Base of authentication and user-management errors."""


class AuthenticationError(IdentityError):
    """Credentials are missing, wrong, expired or revoked."""


class UserExistsError(IdentityError):
    """A user with this name already exists."""


class UnknownUserError(IdentityError):
    """No such user."""
