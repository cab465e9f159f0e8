"""Decision -> await_decision latency of the human-in-loop server, through MCP over HTTP.

Real server processes (``python -m mcp_servers.human_in_loop``, auth on) on SQLite and on
Redis. Each round: the requester creates an approval and parks in
``await_decision(wait_seconds=50)``; an approver then calls ``respond_to_approval``. The
figure is the time from sending that decision to ``await_decision`` returning, at the
requester. "same server": both clients on one process; "other replica": the decision goes
to a second process sharing the store (the wake-up crosses processes).

Baseline, measured in the same run: the seed's design, which polled every 10 s (here a
client polling ``get_approval`` every 10 s, the decision landing at a random moment).

Run: .venv/bin/python benchmarks/bench_human_in_loop.py [--rounds 100] [--baseline-rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcp import Client  # noqa: E402

from promptcraft.runtime import build_runtime  # noqa: E402
from promptcraft.settings import load_core_settings  # noqa: E402
from tests.support.mcp_client import http_client  # noqa: E402
from tests.support.ports import free_port, wait_for_port  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

REQUEST = {
    "approval_type": "code_deployment",
    "step_description": "Deploy billing v2",
    "context": {"impact_assessment": "restarts billing", "risk_level": "medium"},
    "workflow_id": "bench",
}
SEED_POLL_SECONDS = 10.0


@asynccontextmanager
async def server(data_dir: Path, store_url: str) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PROMPTCRAFT_DATA_DIR": str(data_dir),
        "PROMPTCRAFT_STORE_URL": store_url,
        "PROMPTCRAFT_MCP_REQUIRE_AUTH": "true",
        "PROMPTCRAFT_LOG_LEVEL": "WARNING",
        # One requester makes hundreds of requests a minute here; the per-requester rate
        # limit (default 60/min) protects production, not this measurement.
        "HITL_REQUESTS_PER_MINUTE": "1000000",
    }
    log = (data_dir / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - a benchmark's fixture
        [sys.executable, "-m", "mcp_servers.human_in_loop", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await anyio.to_thread.run_sync(wait_for_port, port, 30.0)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


async def tokens(data_dir: Path, store_url: str) -> dict[str, str]:
    runtime = build_runtime(load_core_settings(data_dir=data_dir, store_url=store_url))
    async with runtime.store:
        await runtime.users.add("agent", "correct horse battery staple", ("user",))
        await runtime.users.add("ann", "correct horse battery staple", ("approver",))
        return {name: runtime.tokens.issue(name).token for name in ("agent", "ann")}


async def create(agent: Client) -> str:
    result = await agent.call_tool("request_approval", REQUEST)
    assert not result.is_error and result.structured_content is not None, result.content
    return str(result.structured_content["approval_id"])


async def one_round(agent: Client, approver: Client) -> tuple[float, float]:
    approval_id = await create(agent)
    returned: list[float] = []

    async def wait() -> None:
        result = await agent.call_tool(
            "await_decision", {"approval_id": approval_id, "wait_seconds": 50}
        )
        returned.append(time.perf_counter())
        assert result.structured_content is not None
        assert result.structured_content["status"] == "approved", result.structured_content

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.sleep(0.05)  # let the waiter park on the server
        sent = time.perf_counter()
        result = await approver.call_tool(
            "respond_to_approval", {"approval_id": approval_id, "decision": "approved"}
        )
        answered = time.perf_counter()
        assert not result.is_error, result.content
    return returned[0] - sent, answered - sent


async def seed_round(agent: Client, approver: Client) -> float:
    """The seed's design: look every 10 s; the decision lands at a random moment."""
    approval_id = await create(agent)
    decided_at: list[float] = []

    async def decide_later() -> None:
        await anyio.sleep(random.uniform(0, SEED_POLL_SECONDS))
        await approver.call_tool(
            "respond_to_approval", {"approval_id": approval_id, "decision": "approved"}
        )
        decided_at.append(time.perf_counter())

    async with anyio.create_task_group() as tg:
        tg.start_soon(decide_later)
        while True:
            result = await agent.call_tool("get_approval", {"approval_id": approval_id})
            assert result.structured_content is not None
            if result.structured_content["status"] != "pending":
                noticed = time.perf_counter()
                break
            await anyio.sleep(SEED_POLL_SECONDS)
    return noticed - decided_at[0]


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def report(label: str, latencies: list[float], calls: list[float]) -> float:
    p50 = statistics.median(latencies) * 1000
    print(
        f"  {label:22} decision -> await_decision returned: p50 {p50:6.1f} ms  "
        f"p99 {pct(latencies, 99):6.1f} ms  (n={len(latencies)}; the respond_to_approval call "
        f"itself: p50 {statistics.median(calls) * 1000:.1f} ms)"
    )
    return p50


async def bench_backend(name: str, data_dir: Path, store_url: str, rounds: int) -> list[float]:
    print(f"{name}:")
    creds = await tokens(data_dir, store_url)
    p50s = []
    async with server(data_dir, store_url) as first, server(data_dir, store_url) as second:
        for label, approver_url in (("same server", first), ("other replica", second)):
            async with (
                http_client(first, creds["agent"]) as agent,
                http_client(approver_url, creds["ann"]) as approver,
            ):
                for _ in range(3):  # warm-up
                    await one_round(agent, approver)
                latencies, calls = [], []
                for _ in range(rounds):
                    latency, call = await one_round(agent, approver)
                    latencies.append(latency)
                    calls.append(call)
            p50s.append(report(label, latencies, calls))
    return p50s


async def bench_baseline(data_dir: Path, rounds: int) -> float:
    creds = await tokens(data_dir, "")
    async with (
        server(data_dir, "") as url,
        http_client(url, creds["agent"]) as agent,
        http_client(url, creds["ann"]) as ann,
    ):
        latencies = [await seed_round(agent, ann) for _ in range(rounds)]
    p50 = statistics.median(latencies) * 1000
    print(
        f"  seed design (poll every {SEED_POLL_SECONDS:.0f} s): p50 {p50:,.0f} ms  "
        f"max {max(latencies) * 1000:,.0f} ms  (n={rounds})"
    )
    return p50


async def main(rounds: int, baseline_rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        results: dict[str, list[float]] = {}
        (base / "sqlite").mkdir()
        results["sqlite"] = await bench_backend("sqlite", base / "sqlite", "", rounds)
        redis = RedisServer(base / "redis")
        redis.start()
        try:
            (base / "redis-data").mkdir()
            results["redis"] = await bench_backend("redis", base / "redis-data", redis.url, rounds)
        finally:
            redis.stop()
        if baseline_rounds:
            print("baseline:")
            (base / "baseline").mkdir()
            seed = await bench_baseline(base / "baseline", baseline_rounds)
            for name, (same, other) in results.items():
                print(
                    f"  ratio seed/ours on {name}: same server {seed / same:,.0f}x, "
                    f"other replica {seed / other:,.0f}x"
                )
        worst = max(p for values in results.values() for p in values)
        verdict = "met" if worst < 50 else "NOT met"
        print(f"target p50 < 50 ms: {verdict} (worst p50 {worst:.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--baseline-rounds", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main, args.rounds, args.baseline_rounds)
