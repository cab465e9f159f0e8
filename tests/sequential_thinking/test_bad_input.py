"""Bad input gets a tool error that tells the model what to send."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from promptcraft.runtime import Runtime
from tests.sequential_thinking.support import build

pytestmark = pytest.mark.anyio

GOOD = {"thought": "t", "nextThoughtNeeded": True, "thoughtNumber": 1, "totalThoughts": 2}


async def error_of(runtime: Runtime, tool: str, arguments: dict[str, Any], **overrides: Any) -> str:
    async with Client(build(runtime, **overrides)) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return str(result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"thoughtNumber": 0},
            "thoughtNumber is 0, out of range: send thoughtNumber as a whole number",
        ),
        (
            {"totalThoughts": "many"},
            'totalThoughts is "many": send totalThoughts as a whole number',
        ),
        ({"thoughtNumber": 2.5}, "not a whole number"),
        ({"thoughtNumber": True}, "a boolean"),
        ({"revisesThought": -3}, "revisesThought is -3, out of range"),
        ({"branchFromThought": 2**60}, "at most 9007199254740991"),
        ({"nextThoughtNeeded": "maybe"}, "send nextThoughtNeeded as true or false"),
        ({"isRevision": 1}, "send isRevision as true or false"),
        ({"threadId": "   "}, "threadId must be 1 to 200 characters"),
    ],
)
async def test_malformed_thoughts_are_refused_with_what_to_send(
    runtime: Runtime, change: dict[str, Any], expected: str
) -> None:
    assert expected in await error_of(runtime, "sequentialthinking", {**GOOD, **change})


async def test_a_missing_argument_is_named(runtime: Runtime) -> None:
    message = await error_of(
        runtime, "sequentialthinking", {"thought": "t", "thoughtNumber": 1, "totalThoughts": 1}
    )
    assert "nextThoughtNeeded" in message and "required" in message


async def test_an_oversized_thought_is_refused_with_advice_to_split_it(runtime: Runtime) -> None:
    message = await error_of(
        runtime, "sequentialthinking", {**GOOD, "thought": "x" * 51}, max_thought_chars=50
    )
    assert "51 characters; the limit is 50" in message and "split it" in message


async def test_null_for_an_optional_argument_means_not_sent(runtime: Runtime) -> None:
    async with Client(build(runtime)) as client:
        result = await client.call_tool(
            "sequentialthinking",
            {
                **GOOD,
                "isRevision": None,
                "revisesThought": None,
                "branchId": None,
                "needsMoreThoughts": None,
            },
        )
    assert not result.is_error
    assert result.structured_content == {
        "thoughtNumber": 1,
        "totalThoughts": 2,
        "nextThoughtNeeded": True,
        "branches": [],
        "thoughtHistoryLength": 1,
    }


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"goal": ""}, "goal is empty: send one or more sentences"),
        ({"goal": "  \n\t "}, "goal is empty"),
        ({"goal": "x" * 101}, "goal is 101 characters; the limit is 100"),
        (
            {"goal": "Write a parser", "max_steps": 1},
            "max_steps is 1, out of range: send a number from 2 to 20",
        ),
        ({"goal": "Write a parser", "max_steps": 21}, "out of range"),
        (
            {"goal": "Write a parser", "context": {"project_context": "def f(): pass"}},
            "context.project_context is a str; send an object",
        ),
        (
            {"goal": "Write a parser", "context": {"project_context": {"file_content": 12}}},
            "context.project_context.file_content is a int; send a str",
        ),
        (
            {
                "goal": "Write a parser",
                "context": {"execution_preferences": {"security_level": "paranoid"}},
            },
            "send strict, standard or permissive",
        ),
        (
            {"goal": "Write a parser", "context": {"project_context": {"file_content": "y" * 300}}},
            "the limit is 200",
        ),
    ],
)
async def test_bad_goals_and_contexts_are_refused_with_what_to_send(
    runtime: Runtime, arguments: dict[str, Any], expected: str
) -> None:
    message = await error_of(
        runtime, "decompose_task", arguments, max_goal_chars=100, max_context_chars=200
    )
    assert expected in message
