from __future__ import annotations

import time

import pytest

from mcp_servers.human_in_loop._signing import (
    issue_link_token,
    slack_signature,
    verify_link_token,
    verify_slack_request,
)
from mcp_servers.human_in_loop.errors import LinkTokenError, SlackRequestError

# The worked example of https://api.slack.com/authentication/verifying-requests-from-slack
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_signatures_match_slacks_own_worked_example() -> None:
    assert slack_signature(SLACK_SECRET, SLACK_TS, SLACK_BODY) == SLACK_SIGNATURE
    headers = {"x-slack-request-timestamp": SLACK_TS, "x-slack-signature": SLACK_SIGNATURE}
    verify_slack_request(SLACK_SECRET, headers, SLACK_BODY, now=float(SLACK_TS) + 299)
    with pytest.raises(SlackRequestError, match="five minutes"):
        verify_slack_request(SLACK_SECRET, headers, SLACK_BODY, now=float(SLACK_TS) + 301)
    with pytest.raises(SlackRequestError, match="does not match"):
        verify_slack_request(SLACK_SECRET, headers, SLACK_BODY + b"&x=1", now=float(SLACK_TS))


def test_link_tokens_are_bound_to_their_claims_and_expire() -> None:
    key = b"k" * 32
    token, claims = issue_link_token(
        key, "a1", "email:ann@corp.test", "approved", int(time.time()) + 60
    )
    assert verify_link_token(key, token) == claims
    with pytest.raises(LinkTokenError, match="signature"):
        verify_link_token(b"other-key" * 4, token)
    with pytest.raises(LinkTokenError, match="expired"):
        verify_link_token(key, token, now=time.time() + 61)
    other, _ = issue_link_token(key, "a1", "email:ann@corp.test", "rejected", int(time.time()) + 60)
    spliced = token.split(".")[0] + "." + other.split(".")[1]
    with pytest.raises(LinkTokenError, match="signature"):
        verify_link_token(key, spliced)
