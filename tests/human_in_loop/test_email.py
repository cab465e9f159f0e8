"""E-mail through a real SMTP server (aiosmtpd): links confirm on a page, only a POST decides."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from mcp_servers.human_in_loop import HumanInLoopSettings
from tests.human_in_loop.conftest import HitlFactory
from tests.human_in_loop.support import (
    SmtpServer,
    call,
    configure,
    delivery_finished,
    links_of,
    request_args,
    self_signed_cert,
)

pytestmark = pytest.mark.anyio

APPROVERS = ["ann@corp.test", "dora@corp.test"]


IDENTITIES = {"email:ann@corp.test": "ann", "email:dora@corp.test": "dora"}


def email_settings(
    base: HumanInLoopSettings, smtp: SmtpServer, **extra: object
) -> HumanInLoopSettings:
    # Every approver address must map to a PromptCraft user (the server refuses to start
    # otherwise); tests may map them differently.
    identities = {**IDENTITIES, **extra.pop("identity_map", {})}  # type: ignore[dict-item]
    return configure(
        base,
        email_smtp_host="127.0.0.1",
        email_smtp_port=smtp.port,
        email_from="approvals@corp.test",
        email_approvers=APPROVERS,
        identity_map=identities,
        **extra,
    )


def hidden_token(page: str) -> str:
    match = re.search(r"name='token' value='([^']+)'", page)
    assert match, page
    return match.group(1)


async def test_following_the_mailed_link_and_confirming_decides_the_approval(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    with SmtpServer() as smtp:
        async with (
            start_hitl(email_settings(hitl_settings, smtp)) as hitl,
            hitl.mcp("agent") as agent,
            hitl.mcp("bob") as bob,
        ):
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            mails = [await smtp.next_mail(), await smtp.next_mail()]
            mail = next(m for m in mails if m.rcpt_tos == ["ann@corp.test"])
            assert mail.message["From"] == "approvals@corp.test"
            assert "Deploy billing v2" in mail.message["Subject"]
            links = links_of(mail)
            assert links["approve"].startswith(f"{hitl.base}/hitl/email/confirm?token=")
            async with httpx2.AsyncClient() as http:
                page = await http.get(links["approve"])  # what a mail scanner would do, too
                still = await call(agent, "get_approval", approval_id=approval_id)
                assert page.status_code == 200 and "Nothing has been decided yet" in page.text
                assert still["status"] == "pending"
                assert page.headers["cache-control"] == "no-store"
                assert page.headers["referrer-policy"] == "no-referrer"
                token = hidden_token(page.text)
                done = await http.post(
                    f"{hitl.base}/hitl/email/decide", data={"token": token, "comment": "fine by me"}
                )
                again = await http.post(f"{hitl.base}/hitl/email/decide", data={"token": token})
                reopened = await http.get(links["approve"])
            # an approver's view: approvers' addresses are hidden from the requester
            detail = await call(bob, "get_approval", approval_id=approval_id)
    assert {tuple(m.rcpt_tos) for m in mails} == {("ann@corp.test",), ("dora@corp.test",)}
    assert done.status_code == 200 and "now approved" in done.text
    assert again.status_code == 409 and "already used" in again.text
    assert reopened.status_code == 409
    assert detail["status"] == "approved"
    assert detail["votes"][0]["approver"] == "ann"
    assert (
        detail["votes"][0]["channel"] == "email" and detail["votes"][0]["comment"] == "fine by me"
    )
    sent = [e for e in detail["events"] if e["type"] == "delivery_sent"]
    assert sorted(e["detail"]["target"] for e in sent) == APPROVERS


async def test_a_reject_link_rejects_and_altered_or_foreign_tokens_are_refused(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    with SmtpServer() as smtp:
        async with (
            start_hitl(email_settings(hitl_settings, smtp)) as hitl,
            hitl.mcp("agent") as agent,
        ):
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            mail = await smtp.next_mail()
            await smtp.next_mail()
            token = parse_qs(urlsplit(links_of(mail)["reject"]).query)["token"][0]
            body, mac = token.split(".")
            altered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
            async with httpx2.AsyncClient() as http:
                forged = await http.post(f"{hitl.base}/hitl/email/decide", data={"token": altered})
                garbage = await http.get(f"{hitl.base}/hitl/email/confirm", params={"token": "x.y"})
                rejected = await http.post(f"{hitl.base}/hitl/email/decide", data={"token": token})
            detail = await call(agent, "get_approval", approval_id=approval_id)
    assert forged.status_code == 400 and "signature" in forged.text
    assert garbage.status_code == 400
    assert rejected.status_code == 200 and "now rejected" in rejected.text
    assert detail["status"] == "rejected"


async def test_a_link_of_an_address_mapped_to_the_requester_cannot_decide(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    with SmtpServer() as smtp:
        settings = email_settings(
            hitl_settings, smtp, identity_map={"email:ann@corp.test": "agent"}
        )
        async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent:
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            mails = [await smtp.next_mail(), await smtp.next_mail()]
            mail = next(m for m in mails if m.rcpt_tos == ["ann@corp.test"])
            async with httpx2.AsyncClient() as http:
                page = await http.get(links_of(mail)["approve"])
                result = await http.post(
                    f"{hitl.base}/hitl/email/decide", data={"token": hidden_token(page.text)}
                )
            detail = await call(agent, "get_approval", approval_id=approval_id)
    assert result.status_code == 403 and "cannot decide it" in result.text
    assert detail["status"] == "pending"


async def test_mail_goes_over_starttls_with_login_when_the_server_offers_it(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings, tmp_path: Path
) -> None:
    cert, key = self_signed_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with SmtpServer(tls_context=context, users={"hitl": "smtp-password-1"}) as smtp:
        settings = email_settings(
            hitl_settings,
            smtp,
            email_smtp_username="hitl",
            email_smtp_password="smtp-password-1",
            email_ca_bundle=cert,
        )
        async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent:
            await call(agent, "request_approval", **request_args())
            mail = await smtp.next_mail()
    assert mail.tls is True and mail.login == "hitl"


async def test_only_approvers_see_approvers_email_addresses_in_the_audit_trail(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    with SmtpServer() as smtp:
        async with (
            start_hitl(email_settings(hitl_settings, smtp)) as hitl,
            hitl.mcp("agent") as agent,
            hitl.mcp("bob") as bob,
        ):
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            mails = [await smtp.next_mail(), await smtp.next_mail()]
            mail = next(m for m in mails if m.rcpt_tos == ["ann@corp.test"])
            async with httpx2.AsyncClient() as http:
                token = hidden_token((await http.get(links_of(mail)["reject"])).text)
                await http.post(f"{hitl.base}/hitl/email/decide", data={"token": token})
            as_requester = await call(agent, "get_approval", approval_id=approval_id)
            as_approver = await call(bob, "get_approval", approval_id=approval_id)

    def vote_via(detail: dict[str, Any]) -> str:
        return str(next(e["detail"]["via"] for e in detail["events"] if e["type"] == "vote"))

    assert vote_via(as_approver) == "email:ann@corp.test"
    assert vote_via(as_requester) == "email:***@corp.test"
    assert "ann@corp.test" not in str(as_requester) and "dora@corp.test" not in str(as_requester)
    assert as_requester["votes"][0]["approver"] == "ann"


async def test_approvers_addresses_of_every_valid_shape_are_hidden_from_the_requester(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    addresses = {
        "ann@intranet": "ann",
        "o'neil@corp.test": "bob",
        "josé@corp.test": "dora",
        '"ann smith"@corp.test': "eve",
        "ann@bücher.example": "fay",
    }
    with SmtpServer() as smtp:
        settings = configure(
            hitl_settings,
            email_smtp_host="127.0.0.1",
            email_smtp_port=smtp.port,
            email_from="approvals@corp.test",
            email_approvers=list(addresses),
            identity_map={f"email:{a}": user for a, user in addresses.items()},
            delivery_max_attempts=1,  # a refused address is audited once, with the server's error
        )
        async with (
            start_hitl(settings) as hitl,
            hitl.mcp("agent") as agent,
            hitl.mcp("root") as admin,
        ):
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            for address in addresses:
                await delivery_finished(
                    hitl.runtime.store, approval_id, "email", "request", address
                )
            mails = []
            while not smtp.handler.mails.empty():
                mails.append(smtp.handler.mails.get_nowait())
            mail = next(m for m in mails if m.rcpt_tos == ["o'neil@corp.test"])
            async with httpx2.AsyncClient() as http:
                token = hidden_token((await http.get(links_of(mail)["approve"])).text)
                await http.post(f"{hitl.base}/hitl/email/decide", data={"token": token})
            as_requester = await call(agent, "get_approval", approval_id=approval_id)
            as_admin = await call(admin, "get_approval", approval_id=approval_id)

    def targets(detail: dict[str, Any]) -> set[str]:
        return {e["detail"]["target"] for e in detail["events"] if "target" in e["detail"]}

    def vote_via(detail: dict[str, Any]) -> str:
        return str(next(e["detail"]["via"] for e in detail["events"] if e["type"] == "vote"))

    assert as_admin["votes"][0]["approver"] == "bob"
    assert targets(as_admin) == set(addresses) and vote_via(as_admin) == "email:o'neil@corp.test"
    assert targets(as_requester) == {"***@intranet", "***@corp.test", "***@bücher.example"}
    assert vote_via(as_requester) == "email:***@corp.test"
    seen = json.dumps(as_requester, ensure_ascii=False)
    for local_part in ("ann@", "o'neil", "josé", "ann smith"):
        assert local_part not in seen


async def test_a_link_whose_vote_failed_is_not_spent_and_works_once_the_cause_is_gone(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    with SmtpServer() as smtp:
        async with (
            start_hitl(email_settings(hitl_settings, smtp)) as hitl,
            hitl.mcp("agent") as agent,
        ):
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            mails = [await smtp.next_mail(), await smtp.next_mail()]
            mail = next(m for m in mails if m.rcpt_tos == ["ann@corp.test"])
            users = hitl.runtime.users
            async with httpx2.AsyncClient() as http:
                token = hidden_token((await http.get(links_of(mail)["approve"])).text)
                await users.set_disabled("ann", True)  # e.g. while an admin sorts out her account
                failed = await http.post(f"{hitl.base}/hitl/email/decide", data={"token": token})
                await users.set_disabled("ann", False)
                page = await http.get(links_of(mail)["approve"])
                done = await http.post(f"{hitl.base}/hitl/email/decide", data={"token": token})
            detail = await call(agent, "get_approval", approval_id=approval_id)
    assert failed.status_code == 403 and "disabled" in failed.text
    assert page.status_code == 200 and "Nothing has been decided yet" in page.text
    assert done.status_code == 200 and "now approved" in done.text
    assert detail["status"] == "approved" and detail["votes"][0]["approver"] == "ann"
