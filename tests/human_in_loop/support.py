"""Real parts for the human-in-loop tests: HTTP receivers, an SMTP server, Slack signing,
users with tokens, and the server served over HTTP exactly as ``python -m`` serves it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import queue
import secrets
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_servers.human_in_loop import HumanInLoopSettings, create_http_routes, create_server
from promptcraft.mcp_host import streamable_app
from promptcraft.runtime import Runtime
from tests.support.asgi_server import serve_asgi
from tests.support.ports import free_port

PASSWORD = "correct horse battery staple"
CONTEXT = {"impact_assessment": "restarts the billing service", "risk_level": "medium"}


def request_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "approval_type": "code_deployment",
        "step_description": "Deploy billing v2 to production",
        "context": dict(CONTEXT),
        "workflow_id": "wf-1",
    }
    args.update(overrides)
    return args


def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def slack_secret() -> str:
    return secrets.token_hex(16)


async def add_user(runtime: Runtime, name: str, *roles: str) -> str:
    """Create the user and return a bearer token for it."""
    await runtime.users.add(name, PASSWORD, tuple(roles) or ("user",))
    return runtime.tokens.issue(name).token


@asynccontextmanager
async def serve_hitl(
    settings: HumanInLoopSettings, runtime: Runtime, port: int | None = None
) -> AsyncIterator[str]:
    """Serve the MCP endpoint at /mcp and the /hitl routes, as ``python -m`` does; yields the base URL."""
    server = create_server(settings, runtime)
    app = streamable_app(server, runtime.settings, "/mcp", create_http_routes(settings, runtime))
    async with serve_asgi(app, port=port) as base:
        yield base


# -- an HTTP receiver (webhooks, Slack incoming webhook and response_url) ---------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers with the next status in ``fail_with`` first, then 200."""

    fail_with: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    base: str = ""

    def __post_init__(self) -> None:
        self._arrived = anyio.Event()
        self._seen: dict[str | None, int] = {}

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            item = Received(
                request.url.path,
                {k.lower(): v for k, v in request.headers.items()},
                await request.body(),
            )
            self.received.append(item)
            self._arrived.set()
            self._arrived = anyio.Event()
            if self.fail_with:
                return Response("try later", status_code=self.fail_with.pop(0))
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])

    async def next_on(self, path: str | None, timeout: float = 20) -> Received:
        """The next request (to ``path``, or to any path when None) not returned before."""
        with anyio.fail_after(timeout):
            while True:
                items = [r for r in self.received if path is None or r.path == path]
                seen = self._seen.get(path, 0)
                if len(items) > seen:
                    self._seen[path] = seen + 1
                    return items[seen]
                await self._arrived.wait()

    async def next(self, timeout: float = 20) -> Received:
        return await self.next_on(None, timeout)


@asynccontextmanager
async def running_receiver(fail_with: list[int] | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(fail_with=list(fail_with or []))
    async with serve_asgi(receiver.app()) as base:
        receiver.base = base
        yield receiver


# -- Slack, signed as Slack signs -----------------------------------------------------------


def slack_click(
    secret: str,
    approval_id: str,
    user_id: str,
    action: str = "hitl_approve",
    *,
    response_url: str = "",
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower()},
        "response_url": response_url,
        "actions": [{"action_id": action, "value": approval_id, "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }
    return body, headers


# -- a real SMTP server ------------------------------------------------------------------------


@dataclass
class Mail:
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class _Handler:
    def __init__(self) -> None:
        self.mails: queue.Queue[Mail] = queue.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.mails.put(Mail(list(envelope.rcpt_tos), message, session.ssl is not None, login))
        return "250 OK"


class SmtpServer:
    """aiosmtpd in its own thread on a free port; optionally STARTTLS and AUTH."""

    def __init__(
        self, tls_context: ssl.SSLContext | None = None, users: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.handler = _Handler()
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if users is not None:

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
            ) -> Any:
                from aiosmtpd.smtp import AuthResult

                ok = users.get(auth.login.decode()) == auth.password.decode()
                return AuthResult(success=ok, auth_data=auth.login if ok else None)

            kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    async def next_mail(self, timeout: float = 20) -> Mail:
        return await anyio.to_thread.run_sync(lambda: self.handler.mails.get(timeout=timeout))


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, for a STARTTLS server the client trusts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def links_of(mail: Mail) -> dict[str, str]:
    """The approve and reject links of an approval e-mail (from its text part)."""
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    links = {}
    for line in text.splitlines():
        if line.startswith("Approve:"):
            links["approve"] = line.split(":", 1)[1].strip()
        if line.startswith("Reject:"):
            links["reject"] = line.split(":", 1)[1].strip()
    return links


async def call(client: Any, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool and return its structured result; fail with the tool's message on error."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text if result.content else result
    assert result.structured_content is not None
    return dict(result.structured_content)


async def call_error(client: Any, tool: str, **args: Any) -> str:
    """Call a tool that must fail; return the message the model would read."""
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


def configure(base: HumanInLoopSettings, **updates: Any) -> HumanInLoopSettings:
    """``base`` with ``updates``, validated as if they came from the environment."""
    return HumanInLoopSettings(_env_file=None, **{**base.model_dump(), **updates})  # type: ignore[call-arg]


async def delivery_finished(
    store: Any, approval_id: str, channel: str, purpose: str, target: str = "", timeout: float = 20
) -> None:
    """Wait (woken by the store) until the delivery record is gone: sent or abandoned."""
    from mcp_servers.human_in_loop._outbox import DELIVERY_KIND, delivery_key

    key = delivery_key(approval_id, channel, purpose, target)
    with anyio.fail_after(timeout):
        record = await store.get(DELIVERY_KIND, key)
        while record is not None:
            changed = await store.wait_for_change(
                DELIVERY_KIND, key, after_version=record.version, timeout=timeout
            )
            record = changed if changed is not None else await store.get(DELIVERY_KIND, key)
