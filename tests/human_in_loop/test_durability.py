"""The server process killed (SIGKILL) and restarted on the same SQLite file loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from standardwebhooks import Webhook

from mcp_servers.human_in_loop._model import APPROVAL_KIND
from promptcraft.runtime import build_runtime
from promptcraft.settings import load_core_settings
from tests.human_in_loop.support import Receiver, add_user, call, request_args, webhook_secret
from tests.support.asgi_server import serve_asgi
from tests.support.mcp_client import http_client
from tests.support.ports import free_port, wait_for_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """``python -m mcp_servers.human_in_loop`` on a fixed port and data dir, restartable."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "PROMPTCRAFT_DATA_DIR": str(data_dir),
            "PROMPTCRAFT_STORE_URL": "",
            "PROMPTCRAFT_MCP_REQUIRE_AUTH": "true",
            "HITL_SWEEP_INTERVAL_SECONDS": "0.2",
            "HITL_DELIVERY_BACKOFF_SECONDS": "0.05",
            "HITL_DELIVERY_BACKOFF_MAX_SECONDS": "0.2",
            "HITL_DELIVERY_MAX_ATTEMPTS": "50",
            "HITL_DELIVERY_TIMEOUT_SECONDS": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def start(self) -> None:
        self.runs += 1
        log = (self.data_dir / f"server-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for in a thread
            [
                sys.executable,
                "-m",
                "mcp_servers.human_in_loop",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        await anyio.to_thread.run_sync(wait_for_port, self.port, 30.0)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=20)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@contextmanager
def server_process(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, env or {})
    try:
        yield server
    finally:
        server.stop()


async def users_in(data_dir: Path) -> dict[str, str]:
    """Users in the server's own SQLite file, and tokens signed with its generated secret."""
    runtime = build_runtime(load_core_settings(data_dir=data_dir, store_url=""))
    async with runtime.store:
        return {
            "agent": await add_user(runtime, "agent"),
            "ann": await add_user(runtime, "ann", "approver"),
        }


async def test_an_approval_made_before_a_kill_is_decided_after_the_restart_and_its_webhook_still_goes_out(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    tokens = await users_in(data_dir)
    secret = webhook_secret()
    hook_port = free_port()
    env = {
        "HITL_NOTIFICATION_WEBHOOK": f"http://127.0.0.1:{hook_port}/hook",
        "HITL_WEBHOOK_SECRET": secret,
    }
    with server_process(data_dir, env) as server:
        await server.start()
        async with http_client(server.url, tokens["agent"]) as agent:
            created = await call(
                agent, "request_approval", **request_args(idempotency_key="deploy-1")
            )
        approval_id = created["approval_id"]
        server.kill()  # the webhook receiver was down: the event is still owed
        hook = Receiver()
        async with serve_asgi(hook.app(), port=hook_port):
            await server.start()
            event = await hook.next(timeout=20)
            async with (
                http_client(server.url, tokens["agent"]) as agent,
                http_client(server.url, tokens["ann"]) as ann,
            ):
                again = await call(
                    agent, "request_approval", **request_args(idempotency_key="deploy-1")
                )
                assert again["approval_id"] == approval_id and again["created"] is False
                decided = await call(
                    ann, "respond_to_approval", approval_id=approval_id, decision="approved"
                )
                waited = await call(
                    agent, "await_decision", approval_id=approval_id, wait_seconds=5
                )
                detail = await call(agent, "get_approval", approval_id=approval_id)
    assert Webhook(secret).verify(event.body, event.headers)["type"] == "approval.requested"
    assert decided["approval"]["status"] == "approved" and waited["status"] == "approved"
    types = [e["type"] for e in detail["events"]]
    assert types[0] == "created" and "delivery_sent" in types
    assert types.count("vote") == 1 and types.index("vote") < types.index("approved")


async def test_a_deadline_that_passes_while_the_server_is_down_is_timeout_after_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    tokens = await users_in(data_dir)
    with server_process(data_dir) as server:
        await server.start()
        async with http_client(server.url, tokens["agent"]) as agent:
            created = await call(
                agent, "request_approval", **request_args(options={"timeout_minutes": 0.05})
            )
        server.kill()
        approval_id = created["approval_id"]
        deadline = datetime.fromisoformat(created["expires_at"])
        await anyio.sleep(
            max(0.0, (deadline - datetime.now(deadline.tzinfo)).total_seconds()) + 0.2
        )

        runtime = build_runtime(load_core_settings(data_dir=data_dir, store_url=""))
        async with runtime.store as store:
            record = await store.get(APPROVAL_KIND, approval_id)
            assert (
                record is not None and record.data["status"] == "pending"
            )  # nobody expired it yet
            await server.start()  # nothing reads it: only the restarted sweeper can end it
            with anyio.fail_after(20):
                # until it is timeout and the follow-up of that (its audit event) is done
                while record.data["status"] == "pending" or "follow_up" in record.data["extra"]:
                    changed = await store.wait_for_change(
                        APPROVAL_KIND, approval_id, after_version=record.version, timeout=20
                    )
                    assert changed is not None
                    record = changed
            events = await store.read_events(f"approval:{approval_id}")
        async with http_client(server.url, tokens["ann"]) as ann:
            late = await ann.call_tool(
                "respond_to_approval", {"approval_id": approval_id, "decision": "approved"}
            )
            detail = await call(ann, "get_approval", approval_id=approval_id)
    assert record.data["status"] == "timeout"
    assert [e.data for e in events if e.data["type"] == "expired"] == [
        {"type": "expired", "actor": "system", "channel": "sweeper", "key": "status:timeout"}
    ]
    assert late.is_error and "timed out" in late.content[0].text
    assert detail["status"] == "timeout"
