"""State store throughput: create, update (CAS), get and wake-up, on SQLite and Redis.

Prints operations per second for each, so later changes can be compared.
Run: .venv/bin/python benchmarks/bench_store.py [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptcraft.settings import load_core_settings
from promptcraft.store import StateStore, create_store
from tests.support.redis_server import RedisServer


async def _rate(label: str, n: int, op) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for i in range(n):
        await op(i)
    elapsed = time.perf_counter() - started
    return n / elapsed


async def bench(store: StateStore, n: int) -> dict[str, float]:
    results: dict[str, float] = {}
    results["create"] = await _rate(
        "create", n, lambda i: store.create("bench", f"k{i}", {"i": i, "goal": "x" * 200})
    )
    results["update"] = await _rate(
        "update",
        n,
        lambda i: store.update("bench", f"k{i}", {"i": i, "goal": "y" * 200}, expected_version=1),
    )
    results["get"] = await _rate("get", n, lambda i: store.get("bench", f"k{i}"))
    results["append_event"] = await _rate(
        "append_event", n, lambda i: store.append_event("bench", {"i": i})
    )

    # Wake-up: a parked waiter, one update, time until the waiter returns.
    rounds = min(n, 300)
    latencies: list[float] = []
    await store.create("bench", "wake", {"v": 0})
    version = 1
    woke_at: list[float] = []

    async def waiter(after: int, done: anyio.Event) -> None:
        await store.wait_for_change("bench", "wake", after_version=after, timeout=10)
        woke_at.append(time.perf_counter())
        done.set()

    for _ in range(rounds):
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, version, done)
            await anyio.sleep(0.002)
            changed = time.perf_counter()
            await store.update("bench", "wake", {"v": version}, expected_version=version)
            version += 1
            await done.wait()
        latencies.append(woke_at[-1] - changed)
    results["wake_up"] = 1 / statistics.mean(latencies)
    results["wake_up_p50_ms"] = statistics.median(latencies) * 1000
    results["wake_up_p99_ms"] = statistics.quantiles(latencies, n=100)[98] * 1000
    return results


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        try:
            for name, url in (("sqlite", f"sqlite:///{tmp}/bench.db"), ("redis", redis.url)):
                async with create_store(
                    load_core_settings(data_dir=Path(tmp), store_url=url)
                ) as store:
                    results = await bench(store, n)
                figures = "  ".join(
                    f"{k}={v:,.1f}{'' if k.endswith('_ms') else ' op/s'}"
                    for k, v in results.items()
                )
                print(f"{name:7} {figures}")
        finally:
            redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    anyio.run(main, parser.parse_args().n)
