"""Speed of the code analysis server, against the `bandit` command on the same input.

Prints, from one run:
- p50 latency of ``analyze_code`` on a 1,000-line Python file, through MCP (streamable
  HTTP to the server running in its own process, all analysers, the tool's default
  arguments; and again returning every suggestion), and p50 of the ``bandit`` command
  alone on the same file; their ratio (target: at most 0.5);
- files per second of the command-line entry on a 100-file directory (process
  start-up included), and of ``bandit -r`` on the same directory for scale.

The 1,000-line file is built from the labelled corpus (web handlers full of sinks),
so the taint analysis has real work to do.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.mcp_client import http_client  # noqa: E402
from tests.support.mcp_process import serve_module  # noqa: E402

CORPUS = ROOT / "tests" / "code_analysis" / "corpus"
BIN = Path(sys.executable).parent
RUNS = 15


def thousand_line_file() -> str:
    out: list[str] = []
    for path in sorted(CORPUS.rglob("*.py")):
        lines = [*path.read_text(encoding="utf-8").splitlines(), ""]
        if len(out) + len(lines) > 990:
            break
        out.extend(lines)
    n = 0
    while len(out) < 1000:
        out.append(f"SETTING_{n} = {n}")
        n += 1
    return "\n".join(out[:1000]) + "\n"


def hundred_file_dir(target: Path) -> None:
    files = sorted(CORPUS.rglob("*.py"))
    for i in range(100):
        source = files[i % len(files)]
        (target / f"m{i:03d}_{source.name}").write_text(
            source.read_text(encoding="utf-8"), encoding="utf-8"
        )


def bandit_p50(path: Path) -> tuple[float, float]:
    """(p50 wall seconds, mean CPU seconds) of the bandit command."""
    times = []
    before = os.times()
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            [str(BIN / "bandit"), "-q", "-f", "json", str(path)], capture_output=True, check=False
        )
        times.append(time.perf_counter() - started)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return statistics.median(times), cpu / RUNS


def _cpu_of_tree(port: int) -> float:
    """CPU seconds used so far by the server on ``port``, its worker and its reaped children (ruff)."""
    tick = os.sysconf("SC_CLK_TCK")
    server = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mcp_servers.code_analysis" in cmd and str(port).encode() in cmd:
            server = int(entry.name)
    if server is None:
        return float("nan")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == server or ppid == server:
            utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
            total += (utime + stime + cutime + cstime) / tick
    return total


async def mcp_p50(url: str, code: str, max_suggestions: int) -> tuple[float, float, int, float]:
    times = []
    inside = []
    async with http_client(url) as client:
        for i in range(RUNS + 2):
            started = time.perf_counter()
            result = await client.call_tool(
                "analyze_code",
                {"code": code, "file_path": "big_app.py", "max_suggestions": max_suggestions},
            )
            elapsed = time.perf_counter() - started
            if result.is_error:
                raise RuntimeError(f"analyze_code failed: {result.content}")
            if i >= 2:  # the first calls warm the connection and caches
                times.append(elapsed)
                inside.append((result.structured_content or {}).get("processing_time_ms", 0.0))
    data = result.structured_content or {}
    return (
        statistics.median(times),
        max(times),
        len(data.get("suggestions", [])),
        statistics.median(inside),
    )


def main() -> None:
    # Other work on this machine slows both sides; the load average says how much.
    print("load average (1, 5, 15 min) at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big = work / "big_app.py"
        code = thousand_line_file()
        big.write_text(code, encoding="utf-8")
        data_dir = work / "data"
        data_dir.mkdir()
        with serve_module("mcp_servers.code_analysis", data_dir) as url:
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            anyio.run(mcp_p50, url, code, 5)  # warm-up round
            cpu_before = _cpu_of_tree(port)
            ours, worst, found, analysis_ms = anyio.run(mcp_p50, url, code, 5)
            server_cpu = (_cpu_of_tree(port) - cpu_before) / (RUNS + 2)
            every, _, all_found, _ = anyio.run(mcp_p50, url, code, 0)
        theirs, bandit_cpu = bandit_p50(big)
        print(
            "analyze_code via MCP (streamable HTTP), 1,000-line file, default arguments: "
            f"p50 {ours * 1000:.0f} ms (max {worst * 1000:.0f} ms, {found} suggestions, {RUNS} calls)"
        )
        print(
            f"  of which analysis inside the server (processing_time_ms): p50 {analysis_ms:.0f} ms"
        )
        print(
            f"  the same with max_suggestions=0 ({all_found} suggestions returned): p50 {every * 1000:.0f} ms"
        )
        print(
            f"bandit command alone on the same file:                p50 {theirs * 1000:.0f} ms ({RUNS} runs)"
        )
        print(
            f"ratio analyze_code (default arguments) / bandit: {ours / theirs:.2f}x (target <= 0.5x)"
        )
        print(f"ratio with max_suggestions=0 / bandit:           {every / theirs:.2f}x")
        print(
            f"CPU per call (load-independent): server, worker and ruff {server_cpu * 1000:.0f} ms; "
            f"bandit command {bandit_cpu * 1000:.0f} ms; ratio {server_cpu / bandit_cpu:.2f}x"
        )

        tree = work / "hundred"
        tree.mkdir()
        hundred_file_dir(tree)
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mcp_servers.code_analysis",
                "analyze",
                str(tree),
                "--format",
                "sarif",
                "--output",
                str(work / "out.sarif"),
            ],
            capture_output=True,
            cwd=ROOT,
            check=False,
        )
        cli = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            raise RuntimeError(proc.stderr.decode())
        started = time.perf_counter()
        subprocess.run(
            [str(BIN / "bandit"), "-q", "-r", "-f", "json", str(tree)],
            capture_output=True,
            check=False,
        )
        bandit_dir = time.perf_counter() - started
        print(
            f"command-line entry on a 100-file directory: {100 / cli:.1f} files/s ({cli:.2f} s, start-up included)"
        )
        print(
            f"bandit -r on the same directory:            {100 / bandit_dir:.1f} files/s ({bandit_dir:.2f} s)"
        )
        shutil.rmtree(tree)
    print("load average (1, 5, 15 min) at end:   " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
