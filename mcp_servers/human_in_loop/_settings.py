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
from promptcraft.identity.keys import looks_like_placeholder

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
APPROVAL_TYPES: tuple[str, ...] = (
    "code_deployment",
    "security_override",
    "data_access",
    "external_api",
)
DEFAULT_AUTO_APPROVE_TYPES: tuple[str, ...] = ("data_access", "external_api")
NEVER_AUTO_APPROVED: frozenset[str] = frozenset({"security_override"})
MAX_REQUIRED_APPROVERS = 20
HARD_MAX_CODE_CHARS = 500_000

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
    if len(value) < min_length:
        raise ConfigurationError(
            f"{setting} is {len(value)} characters; a real one has at least {min_length}. "
            "Copy it from where it was issued."
        )
    if looks_like_placeholder(value, min_distinct=8):
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
            "Over stdio (or an in-process client), where there is no bearer token, an answer given "
            "in the client through decide_in_client counts as a vote by this PromptCraft user "
            "(who must exist and be active at the moment of the vote), never from the client "
            "session that made the request. Ignored over HTTP, also with auth off. Unset, "
            "unauthenticated answers are refused."
        ),
    )
    identity_map: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description=(
            "Maps channel identities to PromptCraft user names (JSON object or "
            "'slack:U0123=alice,email:bob@corp.test=bob'). Every HITL_SLACK_ALLOWED_USER_IDS entry "
            "and every HITL_EMAIL_APPROVERS address must be mapped (the server refuses to start "
            "otherwise), so votes are counted per person and requesters never approve their own "
            "requests on any channel."
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
        default=0,
        ge=0,
        le=100,
        description=(
            "Server risk-score threshold for automatic approval; 0 (the default) turns "
            "auto-approval off. A request that opts in with auto_approve_threshold may only lower "
            "it, never raise it."
        ),
    )
    auto_approve_types: Annotated[list[ApprovalType], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_AUTO_APPROVE_TYPES),  # type: ignore[arg-type]
        description=(
            "Approval types that may ever be approved automatically (comma-separated or JSON "
            "list); security_override never may."
        ),
    )
    min_approvers: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description=(
            "Minimum required_approvers per approval_type (JSON object or "
            "'code_deployment=2,security_override=2'; unlisted types: 1). A request may ask for "
            "more, never fewer."
        ),
    )

    # -- limits ----------------------------------------------------------------------
    requests_per_minute: int = Field(
        default=60,
        ge=1,
        description="request_approval calls allowed per requester per minute (anonymous callers share one budget).",
    )
    max_pending_per_requester: int = Field(
        default=100,
        ge=1,
        description="Pending approvals one requester may have open at once; more are refused until some close.",
    )
    max_code_chars: int = Field(
        default=200_000,
        ge=1,
        le=HARD_MAX_CODE_CHARS,
        description="Longest context.generated_code accepted, in characters.",
    )
    max_report_bytes: int = Field(
        default=1_000_000,
        ge=1,
        description="Largest context.security_report accepted, in bytes of compact JSON.",
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
        description=(
            "Slack user IDs whose Approve/Reject clicks count (each mapped to a user in "
            "HITL_IDENTITY_MAP); clicks from anyone else are refused."
        ),
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
        description=(
            "Addresses that receive approval e-mails, each with its own single-use links (each "
            "mapped to a user in HITL_IDENTITY_MAP)."
        ),
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
        "approver_usernames",
        "slack_allowed_user_ids",
        "email_approvers",
        "auto_approve_types",
        mode="before",
    )(_split_list)
    _map_fields = field_validator(
        "identity_map", "risk_scores", "type_adjustments", "min_approvers", mode="before"
    )(_split_map)

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
        for name, count in self.min_approvers.items():
            if name not in APPROVAL_TYPES:
                raise ValueError(
                    f"HITL_MIN_APPROVERS names {name!r}, not an approval type {list(APPROVAL_TYPES)}"
                )
            if not 1 <= count <= MAX_REQUIRED_APPROVERS:
                raise ValueError(
                    f"HITL_MIN_APPROVERS {name}={count} is outside 1..{MAX_REQUIRED_APPROVERS}"
                )
        return self

    # -- policy ----------------------------------------------------------------------

    def minimum_approvers(self, approval_type: str) -> int:
        return self.min_approvers.get(approval_type, 1)

    def may_auto_approve_type(self, approval_type: str) -> bool:
        return approval_type in self.auto_approve_types and approval_type not in NEVER_AUTO_APPROVED

    def resolve_identity(self, channel_identity: str) -> str | None:
        """The PromptCraft user behind ``slack:U…`` or ``email:addr`` (HITL_IDENTITY_MAP), or
        None when it maps to nobody. E-mail addresses compare case-insensitively."""
        user = self.identity_map.get(channel_identity)
        if user is None and channel_identity.startswith("email:"):
            wanted = channel_identity.lower()
            user = next((v for k, v in self.identity_map.items() if k.lower() == wanted), None)
        return user or None

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
        """Refuse half-configured channels, placeholder secrets and channel identities that map
        to no user (called at server start)."""
        if any(t in NEVER_AUTO_APPROVED for t in self.auto_approve_types):
            raise ConfigurationError(
                "HITL_AUTO_APPROVE_TYPES lists security_override, which always needs a person: "
                "remove it"
            )
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
        self._check_identities()

    def _check_identities(self) -> None:
        for channel_identity, user in self.identity_map.items():
            if not user.strip() or user.startswith(("slack:", "email:")):
                raise ConfigurationError(
                    f"HITL_IDENTITY_MAP maps {channel_identity} to {user!r}, which is not a "
                    "PromptCraft user name"
                )
        unmapped = [
            f"slack:{uid}"
            for uid in self.slack_allowed_user_ids
            if self.resolve_identity(f"slack:{uid}") is None
        ]
        unmapped += [
            f"email:{address}"
            for address in self.email_approvers
            if self.resolve_identity(f"email:{address}") is None
        ]
        if unmapped:
            example = ",".join(f"{identity}=<user>" for identity in unmapped)
            raise ConfigurationError(
                "HITL_IDENTITY_MAP does not map these approvers (from HITL_SLACK_ALLOWED_USER_IDS / "
                f"HITL_EMAIL_APPROVERS) to PromptCraft users: {', '.join(unmapped)}. Without it one "
                "person could vote twice or approve their own request. Add them, e.g. "
                f"HITL_IDENTITY_MAP={example}"
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
        if looks_like_placeholder(body, min_distinct=8) or len(set(key)) < 8:
            raise ConfigurationError(f"HITL_WEBHOOK_SECRET looks like a placeholder: {_HOW_WHSEC}")


def load_settings(**overrides: object) -> HumanInLoopSettings:
    """Build the settings from the environment (and ``.env``), with explicit overrides."""
    return HumanInLoopSettings(**overrides)  # type: ignore[arg-type]


__all__ = [
    "APPROVAL_TYPES",
    "DEFAULT_AUTO_APPROVE_TYPES",
    "DEFAULT_RISK_SCORES",
    "DEFAULT_TYPE_ADJUSTMENTS",
    "ApprovalType",
    "ChannelName",
    "HumanInLoopSettings",
    "RiskLevel",
    "load_settings",
]
