"""HumanEval tasks as ``run_tests`` gets them, for the tests and the benchmarks alike."""

from __future__ import annotations

from typing import Any


def as_pytest(problem: dict[str, Any], body: str | None = None) -> tuple[str, str]:
    """code: the prompt and a body (the canonical solution unless given); tests: HumanEval's
    check() wrapped as one pytest test."""
    entry = problem["entry_point"]
    tests = f"{problem['test']}\n\ndef test_{entry}():\n    check({entry})\n"
    return problem["prompt"] + (problem["canonical_solution"] if body is None else body), tests
