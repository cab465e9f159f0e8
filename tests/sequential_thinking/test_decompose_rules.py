"""decompose_task without a model: the deterministic planner reads the goal and the context."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from mcp_servers.sequential_thinking import plan_with_rules, read_inputs
from mcp_servers.sequential_thinking.errors import InvalidGoalError
from promptcraft.runtime import Runtime
from tests.sequential_thinking.support import build

pytestmark = pytest.mark.anyio

CODE = """import sqlite3


def parse_date(text):
    year, month, day = text.split("-")
    return int(year), int(month), int(day)
"""


async def plan(
    runtime: Runtime, goal: str, context: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    async with Client(build(runtime)) as client:
        result = await client.call_tool(
            "decompose_task", {"goal": goal, "context": context or {}, **kw}
        )
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def kinds(plan: dict[str, Any]) -> list[str]:
    return [step["type"] for step in plan["steps"]]


def signals(goal: str, context: dict[str, Any] | None = None, max_steps: int = 8) -> Any:
    return read_inputs(goal, context or {}, max_steps, max_goal_chars=8000, max_context_chars=10**6)


async def test_a_goal_with_supplied_code_is_analysed_scanned_and_tested_as_it_is(
    runtime: Runtime,
) -> None:
    result = await plan(
        runtime,
        "Review parse_date for bugs and check that it handles bad input",
        {"project_context": {"file_content": CODE, "current_file": "dates.py"}},
    )
    assert result["planner"] == "rules"
    assert kinds(result) == ["generic", "security_analysis", "testing", "documentation"]
    assert [s["step"] for s in result["steps"]] == [1, 2, 3, 4]
    first = result["steps"][0]
    assert "dates.py" in first["description"] and first["agent"] == "code_analysis"
    assert "code_generation" not in kinds(result)
    assert result["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "model": None,
        "calls": 0,
    }
    assert all(s["estimated_duration"].endswith(("minute", "minutes")) for s in result["steps"])


async def test_a_change_to_supplied_code_without_a_model_warns_that_nothing_is_generated(
    runtime: Runtime,
) -> None:
    result = await plan(
        runtime,
        "Add input validation to parse_date",
        {"project_context": {"file_content": CODE}},
    )
    assert "code_generation" not in kinds(result)
    assert "security_analysis" in kinds(result) and "testing" in kinds(result)
    assert any("PROMPTCRAFT_MODEL_PROVIDER" in w for w in result["warnings"])


async def test_a_goal_without_code_and_without_a_model_plans_requirements_and_names_the_setting(
    runtime: Runtime,
) -> None:
    result = await plan(runtime, "Write a function that converts Roman numerals to integers")
    assert kinds(result) == ["generic", "documentation"]
    assert "requirements" in result["steps"][0]["description"]
    assert "Roman numerals" in result["steps"][0]["description"]
    warning = " ".join(result["warnings"])
    assert "PROMPTCRAFT_MODEL_PROVIDER" in warning
    assert "context.project_context.file_content" in warning
    assert "nothing can be generated" in result["rationale"]


async def test_a_deployment_goal_gets_a_deployment_step_that_always_waits_for_approval(
    runtime: Runtime,
) -> None:
    result = await plan(
        runtime,
        "Deploy the date parser to production",
        {
            "project_context": {"file_content": CODE, "repo_url": "https://git.example/dates"},
            "execution_preferences": {"require_approval": False},
        },
    )
    assert kinds(result) == [
        "generic",
        "security_analysis",
        "testing",
        "deployment",
        "documentation",
    ]
    deployment = result["steps"][3]
    assert deployment["requires_approval"] is True  # even with require_approval false
    assert deployment["agent"] == "deployer"
    assert "https://git.example/dates" in deployment["description"]
    assert "deployment always waits for approval" in result["rationale"]


async def test_code_that_calls_an_external_api_gets_a_review_gate(runtime: Runtime) -> None:
    code = "import requests\n\ndef fetch(url):\n    return requests.get(url, timeout=5).json()\n"
    result = await plan(
        runtime, "Check fetch for robustness", {"project_context": {"file_content": code}}
    )
    review = next(s for s in result["steps"] if s["agent"] == "human_in_loop")
    assert review["type"] == "generic" and review["requires_approval"] is True
    assert "external API" in review["description"]


def test_data_access_and_a_strict_level_make_the_security_analysis_wait_for_approval() -> None:
    data_goal, max_steps = signals(
        "Fix the cleanup job that deletes old customer records",
        {"project_context": {"file_content": "def cleanup(): pass\n"}},
    )
    security = next(
        s
        for s in plan_with_rules(data_goal, max_steps, can_generate=False).steps
        if s.type == "security_analysis"
    )
    assert security.requires_approval is True
    strict, max_steps = signals(
        "Review this helper",
        {
            "project_context": {"file_content": "def f(): return 1\n"},
            "execution_preferences": {"security_level": "strict"},
        },
    )
    security = next(
        s
        for s in plan_with_rules(strict, max_steps, can_generate=False).steps
        if s.type == "security_analysis"
    )
    assert security.requires_approval is True
    plain, max_steps = signals(
        "Review this helper", {"project_context": {"file_content": "def f(): return 1\n"}}
    )
    security = next(
        s
        for s in plan_with_rules(plain, max_steps, can_generate=False).steps
        if s.type == "security_analysis"
    )
    assert security.requires_approval is False


def test_with_a_model_for_generation_the_rules_plan_generates_and_gates_the_code() -> None:
    goal, max_steps = signals("Write a slugify function")
    result = plan_with_rules(goal, max_steps, can_generate=True)
    assert [s.type for s in result.steps] == [
        "generic",
        "code_generation",
        "security_analysis",
        "testing",
        "documentation",
    ]
    assert result.steps[1].requires_approval is True  # require_approval and human loop default on
    assert result.warnings == []
    no_loop, max_steps = signals(
        "Write a slugify function", {"options": {"enable_human_loop": False}}
    )
    assert (
        plan_with_rules(no_loop, max_steps, can_generate=True).steps[1].requires_approval is False
    )


def test_the_plan_is_deterministic() -> None:
    goal, max_steps = signals("Deploy the API client", {"project_context": {"file_content": CODE}})
    first = plan_with_rules(goal, max_steps, can_generate=False)
    assert plan_with_rules(goal, max_steps, can_generate=False) == first


def test_a_small_max_steps_leaves_out_analysis_then_documentation() -> None:
    goal, _ = signals("Review parse_date", {"project_context": {"file_content": CODE}})
    three = plan_with_rules(goal, 3, can_generate=False)
    assert [s.type for s in three.steps] == ["security_analysis", "testing", "documentation"]
    two = plan_with_rules(goal, 2, can_generate=False)
    assert [s.type for s in two.steps] == ["security_analysis", "testing"]
    assert [s.step for s in two.steps] == [1, 2]


def test_a_max_steps_below_the_essential_steps_says_how_many_are_needed() -> None:
    code = "import httpx\n"
    goal, _ = signals("Deploy the webhook sender", {"project_context": {"file_content": code}})
    with pytest.raises(InvalidGoalError, match="send max_steps of 4 or more"):
        plan_with_rules(goal, 3, can_generate=False)
