from __future__ import annotations

import pytest

from mcp_servers.human_in_loop import HumanInLoopSettings, create_server
from promptcraft.errors import ConfigurationError
from promptcraft.runtime import build_runtime
from promptcraft.settings import CoreSettings
from tests.human_in_loop.support import slack_secret, webhook_secret


def settings(**values: object) -> HumanInLoopSettings:
    return HumanInLoopSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_seed_names_and_comma_separated_lists_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HITL_NOTIFICATION_WEBHOOK", "https://hooks.internal.test/approvals")
    monkeypatch.setenv("HITL_EMAIL_SMTP_HOST", "smtp.internal.test")
    monkeypatch.setenv("HITL_EMAIL_FROM", "approvals@corp.test")
    monkeypatch.setenv("HITL_APPROVAL_TIMEOUT_MINUTES", "15")
    monkeypatch.setenv("HITL_EMAIL_APPROVERS", "ann@corp.test, bob@corp.test")
    monkeypatch.setenv("HITL_SLACK_ALLOWED_USER_IDS", '["U1","U2"]')
    monkeypatch.setenv("HITL_IDENTITY_MAP", "slack:U1=ann,email:bob@corp.test=bob")
    s = settings()
    assert s.notification_webhook == "https://hooks.internal.test/approvals"
    assert s.approval_timeout_minutes == 15
    assert s.email_approvers == ["ann@corp.test", "bob@corp.test"]
    assert s.slack_allowed_user_ids == ["U1", "U2"]
    assert s.identity_map == {"slack:U1": "ann", "email:bob@corp.test": "bob"}


@pytest.mark.parametrize(
    ("values", "names"),
    [
        (
            {"notification_webhook": "https://hooks.slack.com/your-webhook"},
            "HITL_NOTIFICATION_WEBHOOK",
        ),
        (
            {"notification_webhook": "https://hooks.slack.com/services/T0/B0/abcdef"},
            "HITL_SLACK_WEBHOOK_URL",
        ),
        ({"notification_webhook": "https://receiver.test/hook"}, "HITL_WEBHOOK_SECRET"),
        (
            {
                "notification_webhook": "https://receiver.test/hook",
                "webhook_secret": "whsec_your-secret-here",
            },
            "HITL_WEBHOOK_SECRET",
        ),
        (
            {"slack_webhook_url": "https://hooks.slack.com/services/T0/B0/abcdef"},
            "HITL_SLACK_SIGNING_SECRET",
        ),
        (
            {"slack_signing_secret": "your-slack-signing-secret-goes-here-xx"},
            "HITL_SLACK_SIGNING_SECRET",
        ),
        (
            {
                "email_smtp_host": "smtp.test",
                "email_from": "noreply@yourdomain.com",
                "email_approvers": ["a@b.test"],
            },
            "HITL_EMAIL_FROM",
        ),
        ({"email_smtp_host": "smtp.test", "email_from": "hitl@corp.test"}, "HITL_EMAIL_APPROVERS"),
        ({"link_secret": "change-me-please-change-me-please-change-me"}, "HITL_LINK_SECRET"),
    ],
)
def test_half_configured_channels_and_placeholder_secrets_refuse_to_start(
    values: dict[str, object], names: str, core_settings: CoreSettings
) -> None:
    with pytest.raises(ConfigurationError, match=names):
        create_server(settings(**values), build_runtime(core_settings))


def test_fully_configured_channels_start(core_settings: CoreSettings) -> None:
    s = settings(
        notification_webhook="https://receiver.test/hook",
        webhook_secret=webhook_secret(),
        slack_webhook_url="https://hooks.slack.com/services/T0/B0/abcdef",
        slack_signing_secret=slack_secret(),
        email_smtp_host="smtp.corp.test",
        email_from="hitl@corp.test",
        email_approvers=["ann@corp.test"],
        identity_map={"email:ann@corp.test": "ann"},
    )
    create_server(s, build_runtime(core_settings))
    assert s.configured_channels == ["email", "slack", "webhook"]


@pytest.mark.parametrize(
    ("values", "unmapped"),
    [
        (
            {
                "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/abcdef",
                "slack_allowed_user_ids": ["U0ANN", "U0BOB"],
                "identity_map": {"slack:U0ANN": "ann"},
            },
            "slack:U0BOB",
        ),
        (
            {
                "email_smtp_host": "smtp.corp.test",
                "email_from": "hitl@corp.test",
                "email_approvers": ["ann@corp.test"],
            },
            "email:ann@corp.test",
        ),
    ],
)
def test_an_approver_identity_that_maps_to_no_user_refuses_to_start(
    values: dict[str, object], unmapped: str, core_settings: CoreSettings
) -> None:
    if "slack_webhook_url" in values:
        values = {**values, "slack_signing_secret": slack_secret()}
    with pytest.raises(ConfigurationError, match="HITL_IDENTITY_MAP") as refused:
        create_server(settings(**values), build_runtime(core_settings))
    assert unmapped in str(refused.value)


def test_security_overrides_can_never_be_configured_for_auto_approval(
    core_settings: CoreSettings,
) -> None:
    with pytest.raises(ConfigurationError, match="HITL_AUTO_APPROVE_TYPES"):
        create_server(
            settings(auto_approve_types="external_api,security_override"),
            build_runtime(core_settings),
        )
