"""Settings of the human-in-loop server (env prefix ``HITL_``).

Each channel is optional; it is on when its settings are present, and a
half-configured channel refuses to start (with the setting to fix) rather than
silently dropping approval requests.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from promptcraft.errors import ConfigurationError

RiskLevel = Literal["low", "medium", "high", "critical"]
ApprovalType = Literal["code_deployment", "security_override", "data_access", "external_api"]
ChannelName = Literal["email", "slack", "webhook"]

DEFAULT_RISK_SCORES: dict[str, int] = {"low": 10, "medium": 40, "high": 70, "critical": 95}
DEFAULT_TYPE_ADJUSTMENTS: dict[str, int] = {
    "code_deployment": 10,
    "security_override": 20,
    "data_access": 10,
    "external_api": 5,
}

_PLACEHOLDER_WORDS = ("change", "your", "example", "placeholder", "xxxx", "dummy", "replace")
_URL_PLACEHOLDERS = ("your-", "your_", "yourdomain", "changeme", "placeholder", "xxxx")
_HOW_WHSEC = (
    'generate one with: python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


def _split_list(value: object) -> object:
    """Accept a JSON list or a comma-separated string for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _split_map(value: object) -> object:
    """Accept a JSON object or ``a=b,c=d`` for mapping settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            import json

            return json.loads(text)
        pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("use a JSON object or key=value pairs separated by commas")
        return {k.strip(): v.strip() for k, v in pairs}
    return value


def refuse_placeholder(value: str, setting: str, *, min_length: int) -> None:
    lowered = value.lower()
    if len(value) < min_length:
        raise ConfigurationError(
            f"{setting} is {len(value)} characters; a real one has at least {min_length}. "
            "Copy it from where it was issued."
        )
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(value)) < 8:
        raise ConfigurationError(
            f"{setting} looks like a placeholder, not a real secret: copy the real value "
            "from where it was issued, or unset it to turn the channel off"
        )


def _refuse_placeholder_url(value: str, setting: str) -> None:
    lowered = value.lower()
    if not lowered.startswith(("http://", "https://")):
        raise ConfigurationError(f"{setting}={value!r} is not an http(s) URL")
    if any(word in lowered for word in _URL_PLACEHOLDERS):
        raise ConfigurationError(
            f"{setting} looks like a placeholder ({value!r}): set the real URL, or unset it "
            "to turn the channel off"
        )


class HumanInLoopSettings(BaseSettings):
    """Where approvals go, who may decide them, and how long they wait."""

    model_config = SettingsConfigDict(
        env_prefix="HITL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # -- deadlines -----------------------------------------------------------------
    approval_timeout_minutes: float = Field(
        default=60,
        gt=0,
        description="Deadline of a request that names no options.timeout_minutes; expiry rejects (status timeout).",
    )
    max_timeout_minutes: float = Field(
        default=1440,
        gt=0,
        description="Longest deadline a request may ask for; longer requests are refused.",
    )
    sweep_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the background sweeper expires overdue approvals and retries deliveries.",
    )

    # -- who may decide --------------------------------------------------------------
    approver_usernames: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "PromptCraft user names allowed to decide through respond_to_approval besides users "
            "holding the 'approver' role (comma-separated or JSON list)."
        ),
    )
    local_approver: str | None = Field(
        default=None,
        description=(
            "When MCP auth is off (stdio, local development), an answer given in the client through "
            "decide_in_client counts as a vote by this user name; unset, such answers are refused."
        ),
    )
    identity_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description=(
            "Maps channel identities to PromptCraft user names (JSON object or "
            "'slack:U0123=alice,email:bob@corp.test=bob'), so distinct-approver counting and the "
            "rule that requesters never approve their own requests hold across channels."
        ),
    )

    # -- risk and auto-approval ------------------------------------------------------
    risk_scores: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_RISK_SCORES),
        description="Base risk score (0-100) per context.risk_level: low, medium, high, critical.",
    )
    type_adjustments: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_TYPE_ADJUSTMENTS),
        description="Points added to the risk score per approval_type.",
    )
    auto_approve_max_threshold: int = Field(
        default=30,
        ge=0,
        le=100,
        description=(
            "Highest auto_approve_threshold a request may use; higher ones are lowered to it, so "
            "an agent cannot approve its own risky requests by asking for a high threshold. 0 turns "
            "auto-approval off."
        ),
    )

    # -- webhook (Standard Webhooks) -------------------------------------------------
    notification_webhook: str | None = Field(
        default=None,
        description="URL that receives signed JSON events (approval.requested, approval.approved, ...).",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks signing secret, whsec_ followed by base64 of 24-64 random bytes.",
    )

    # -- Slack -----------------------------------------------------------------------
    slack_webhook_url: SecretStr | None = Field(
        default=None,
        description="Slack incoming-webhook URL the Block Kit approval messages are posted to.",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="Slack app signing secret, used to verify button clicks at /hitl/slack/interactions.",
    )
    slack_allowed_user_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Slack user IDs whose Approve/Reject clicks count; clicks from anyone else are refused.",
    )

    # -- e-mail ----------------------------------------------------------------------
    email_smtp_host: str | None = Field(
        default=None, description="SMTP server host; e-mail is off when unset."
    )
    email_smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    email_smtp_username: str | None = Field(default=None, description="SMTP login user name.")
    email_smtp_password: SecretStr | None = Field(default=None, description="SMTP login password.")
    email_starttls: Literal["auto", "required", "off"] = Field(
        default="auto",
        description="auto: STARTTLS when the server offers it; required: refuse servers without it; off: never.",
    )
    email_use_tls: bool = Field(
        default=False,
        description="Implicit TLS from the first byte (port 465) instead of STARTTLS.",
    )
    email_ca_bundle: Path | None = Field(
        default=None, description="PEM file of CAs to trust for the SMTP server's certificate."
    )
    email_from: str | None = Field(default=None, description="From address of approval e-mails.")
    email_approvers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses that receive approval e-mails, each with its own single-use links.",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Key that signs e-mail decision links (at least 32 random bytes); when unset one is "
            "generated once and kept in the state store, so every replica agrees."
        ),
    )

    # -- delivery --------------------------------------------------------------------
    delivery_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts per channel message before it is abandoned."
    )
    delivery_backoff_seconds: float = Field(
        default=2.0,
        gt=0,
        description="First retry delay; it doubles per attempt up to delivery_backoff_max_seconds.",
    )
    delivery_backoff_max_seconds: float = Field(
        default=300, gt=0, description="Longest delay between two attempts of one delivery."
    )
    delivery_timeout_seconds: float = Field(
        default=15, gt=0, le=120, description="Time limit of one delivery attempt."
    )

    _list_fields = field_validator(
        "approver_usernames", "slack_allowed_user_ids", "email_approvers", mode="before"
    )(_split_list)
    _map_fields = field_validator("identity_map", "risk_scores", "type_adjustments", mode="before")(
        _split_map
    )

    @field_validator("notification_webhook", "email_smtp_host", "email_from", "local_approver")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _complete_risk_tables(self) -> HumanInLoopSettings:
        missing = set(DEFAULT_RISK_SCORES) - set(self.risk_scores)
        if missing:
            raise ValueError(f"HITL_RISK_SCORES lacks {sorted(missing)}")
        for name, score in {**self.risk_scores, **self.type_adjustments}.items():
            if not -100 <= score <= 100:
                raise ValueError(f"risk score {name}={score} is outside -100..100")
        return self

    # -- which channels are on --------------------------------------------------------

    @property
    def webhook_enabled(self) -> bool:
        return self.notification_webhook is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_webhook_url is not None

    @property
    def email_enabled(self) -> bool:
        return self.email_smtp_host is not None

    @property
    def configured_channels(self) -> list[ChannelName]:
        channels: list[ChannelName] = []
        if self.email_enabled:
            channels.append("email")
        if self.slack_enabled:
            channels.append("slack")
        if self.webhook_enabled:
            channels.append("webhook")
        return channels

    def webhook_key(self) -> bytes:
        assert self.webhook_secret is not None
        raw = self.webhook_secret.get_secret_value()
        return base64.b64decode(raw.removeprefix("whsec_") + "==")

    def check(self) -> None:
        """Refuse half-configured channels and placeholder secrets (called at server start)."""
        if self.webhook_enabled:
            assert self.notification_webhook is not None
            _refuse_placeholder_url(self.notification_webhook, "HITL_NOTIFICATION_WEBHOOK")
            if "hooks.slack.com" in self.notification_webhook:
                raise ConfigurationError(
                    "HITL_NOTIFICATION_WEBHOOK points at a Slack incoming webhook; Slack cannot read "
                    "signed JSON events. Set it as HITL_SLACK_WEBHOOK_URL instead."
                )
            if self.webhook_secret is None:
                raise ConfigurationError(
                    f"HITL_NOTIFICATION_WEBHOOK is set but HITL_WEBHOOK_SECRET is not: {_HOW_WHSEC}"
                )
            self._check_whsec(self.webhook_secret.get_secret_value())
        if self.slack_enabled:
            assert self.slack_webhook_url is not None
            _refuse_placeholder_url(
                self.slack_webhook_url.get_secret_value(), "HITL_SLACK_WEBHOOK_URL"
            )
            if self.slack_signing_secret is None:
                raise ConfigurationError(
                    "HITL_SLACK_WEBHOOK_URL is set but HITL_SLACK_SIGNING_SECRET is not: without it "
                    "button clicks cannot be verified. Copy it from your Slack app's Basic Information page."
                )
        if self.slack_signing_secret is not None:
            refuse_placeholder(
                self.slack_signing_secret.get_secret_value(),
                "HITL_SLACK_SIGNING_SECRET",
                min_length=32,
            )
        if self.email_enabled:
            if not self.email_from:
                raise ConfigurationError(
                    "HITL_EMAIL_SMTP_HOST is set but HITL_EMAIL_FROM is not: set the sender address"
                )
            if "yourdomain" in self.email_from.lower() or "@" not in self.email_from:
                raise ConfigurationError(
                    f"HITL_EMAIL_FROM={self.email_from!r} is a placeholder or not an address"
                )
            if not self.email_approvers:
                raise ConfigurationError(
                    "HITL_EMAIL_SMTP_HOST is set but HITL_EMAIL_APPROVERS is empty: nobody would get "
                    "the mail. List the approvers' addresses, comma-separated."
                )
            if self.email_starttls == "required" and self.email_use_tls:
                raise ConfigurationError(
                    "HITL_EMAIL_USE_TLS and HITL_EMAIL_STARTTLS=required exclude each other: "
                    "use implicit TLS (port 465) or STARTTLS (port 587), not both"
                )
        if self.link_secret is not None:
            from promptcraft.identity.keys import check_secret

            check_secret(self.link_secret.get_secret_value(), setting="HITL_LINK_SECRET")
        if self.max_timeout_minutes < self.approval_timeout_minutes:
            raise ConfigurationError(
                "HITL_APPROVAL_TIMEOUT_MINUTES is longer than HITL_MAX_TIMEOUT_MINUTES; raise the "
                "maximum or lower the default"
            )

    @staticmethod
    def _check_whsec(secret: str) -> None:
        if not secret.startswith("whsec_"):
            raise ConfigurationError(f"HITL_WEBHOOK_SECRET must start with whsec_: {_HOW_WHSEC}")
        body = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(body + "==", validate=False)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                f"HITL_WEBHOOK_SECRET is not base64 after whsec_: {_HOW_WHSEC}"
            ) from None
        if not 24 <= len(key) <= 64:
            raise ConfigurationError(
                f"HITL_WEBHOOK_SECRET decodes to {len(key)} bytes; Standard Webhooks wants 24-64: "
                f"{_HOW_WHSEC}"
            )
        if any(word in body.lower() for word in _PLACEHOLDER_WORDS) or len(set(key)) < 8:
            raise ConfigurationError(f"HITL_WEBHOOK_SECRET looks like a placeholder: {_HOW_WHSEC}")


def load_settings(**overrides: object) -> HumanInLoopSettings:
    """Build the settings from the environment (and ``.env``), with explicit overrides."""
    return HumanInLoopSettings(**overrides)  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_RISK_SCORES",
    "DEFAULT_TYPE_ADJUSTMENTS",
    "ApprovalType",
    "ChannelName",
    "HumanInLoopSettings",
    "RiskLevel",
    "load_settings",
]
