"""Settings shared by every PromptCraft service (env prefix ``PROMPTCRAFT_``).

Built by :func:`load_core_settings`, never at import time. Each service adds its
own settings class with its own prefix next to its code.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "promptcraft"


class CoreSettings(BaseSettings):
    """What the store, identity and the HTTP host need."""

    model_config = SettingsConfigDict(
        env_prefix="PROMPTCRAFT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Directory for the SQLite file and generated secrets.",
    )
    store_url: str = Field(
        default="",
        description=(
            "State store: empty for SQLite in the data directory, sqlite:///path/to/file.db, "
            "or redis://[:password@]host:port/db."
        ),
        validation_alias=AliasChoices("PROMPTCRAFT_STORE_URL", "store_url"),
    )
    workflow_state_ttl_hours: float = Field(
        default=24,
        gt=0,
        description="How long workflow state, approvals and events are kept.",
        validation_alias=AliasChoices(
            "PROMPTCRAFT_WORKFLOW_STATE_TTL_HOURS",
            "WORKFLOW_STATE_TTL_HOURS",
            "workflow_state_ttl_hours",
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `promptcraft serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `promptcraft serve` binds.")
    public_url: str = Field(
        default="",
        description="URL clients use to reach this service (default http://HOST:PORT).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Extra Host header values accepted besides the bind address (DNS-rebinding guard), "
            'as a JSON list, e.g. ["promptcraft.example.com"].'
        ),
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 signing secret (at least 32 bytes); generated into the data dir when unset.",
        validation_alias=AliasChoices("PROMPTCRAFT_JWT_SECRET", "JWT_SECRET", "jwt_secret"),
    )
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        default="HS256",
        description="JWT algorithm, pinned: HS256 (shared secret) or RS256 (key pair).",
        validation_alias=AliasChoices(
            "PROMPTCRAFT_JWT_ALGORITHM", "JWT_ALGORITHM", "jwt_algorithm"
        ),
    )
    jwt_private_key_file: Path | None = Field(
        default=None, description="PEM RSA private key for RS256 (signing)."
    )
    jwt_public_key_file: Path | None = Field(
        default=None, description="PEM RSA public key for RS256 (verifying)."
    )
    jwt_issuer: str = Field(default="promptcraft", description="`iss` claim issued and required.")
    jwt_audience: str = Field(default="promptcraft", description="`aud` claim issued and required.")
    jwt_expiration_hours: float = Field(
        default=24,
        gt=0,
        description="Lifetime of issued tokens unless `promptcraft token --hours` says otherwise.",
        validation_alias=AliasChoices(
            "PROMPTCRAFT_JWT_EXPIRATION_HOURS", "JWT_EXPIRATION_HOURS", "jwt_expiration_hours"
        ),
    )
    jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew tolerated when checking exp/iat/nbf."
    )
    mcp_require_auth: bool = Field(
        default=True,
        description="Require a bearer token on the MCP endpoints; false only for local development.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO",
        description="Log level: DEBUG, INFO, WARNING, ERROR.",
        validation_alias=AliasChoices("PROMPTCRAFT_LOG_LEVEL", "LOG_LEVEL", "log_level"),
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def workflow_ttl(self) -> timedelta:
        return timedelta(hours=self.workflow_state_ttl_hours)

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'promptcraft.db'}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def load_core_settings(**overrides: object) -> CoreSettings:
    """Build the settings from the environment (and ``.env``), with explicit overrides."""
    return CoreSettings(**overrides)  # type: ignore[arg-type]
