"""Drop-in compatibility with the reference sequentialthinking server, from its recorded answers.

The recording (reference_recording.json) was made by running the reference server
(@modelcontextprotocol/server-sequential-thinking on Node 22, over stdio) through
the calls in reference_calls.CALLS; see that module to record it again.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from promptcraft.runtime import Runtime
from tests.sequential_thinking.reference_calls import CALLS, RECORDING, describe
from tests.sequential_thinking.support import build

pytestmark = pytest.mark.anyio

REFERENCE = json.loads(RECORDING.read_text())
ROOT = Path(__file__).resolve().parents[2]


def strip_titles(schema: Any) -> Any:
    """JSON Schema minus the ``title`` annotations pydantic adds (they do not validate)."""
    if isinstance(schema, dict):
        return {
            k: strip_titles(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [strip_titles(v) for v in schema]
    return schema


async def test_the_tool_has_the_references_name_input_schema_annotations_and_output_schema(
    runtime: Runtime,
) -> None:
    async with Client(build(runtime)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["sequentialthinking"]
    reference = REFERENCE["tool"]
    assert tool.title == reference["title"]
    ours = strip_titles(tool.input_schema)
    theirs = reference["input_schema"]
    extra = ours["properties"].pop("threadId")  # our one addition: optional
    assert "threadId" not in ours["required"] and extra["type"] == "string"
    assert ours["properties"] == theirs["properties"]
    assert ours["required"] == theirs["required"]
    output = strip_titles(tool.output_schema)
    output.pop("description", None)
    assert output["properties"] == reference["output_schema"]["properties"]
    assert output["required"] == reference["output_schema"]["required"]
    assert output["additionalProperties"] is False
    assert tool.annotations is not None
    assert tool.annotations.model_dump(mode="json", exclude_none=True) == reference["annotations"]


async def replay(client: Client) -> list[dict[str, Any]]:
    return [describe(await client.call_tool("sequentialthinking", call)) for call in CALLS]


def assert_same_as_reference(results: list[dict[str, Any]]) -> None:
    assert len(results) == len(REFERENCE["results"]) == len(CALLS)
    for call, ours, theirs in zip(CALLS, results, REFERENCE["results"], strict=True):
        assert ours == theirs, f"call {call} answered {ours}, the reference {theirs}"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_replaying_the_reference_calls_gives_identical_results(
    runtime: Runtime, mode: str
) -> None:
    async with Client(build(runtime), mode=mode) as client:  # type: ignore[arg-type]
        results = await replay(client)
    assert_same_as_reference(results)
    # The replay includes what the reference relies on: strings for numbers and booleans,
    # revisions, branches, and totalThoughts rising to thoughtNumber.
    assert results[1]["structured_content"]["thoughtNumber"] == 2
    assert results[3]["structured_content"]["totalThoughts"] == 6
    assert results[-1]["structured_content"]["branches"] == ["alt-a", "alt-b"]


async def test_the_stdio_server_answers_the_replay_exactly_like_the_reference(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PROMPTCRAFT_DATA_DIR": str(tmp_path / "data"),
        "PROMPTCRAFT_MODEL_PROVIDER": "none",
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_servers.sequential_thinking", "--stdio"],
        env=env,
        cwd=str(ROOT),
    )
    async with Client(params, mode="legacy") as client:
        results = await replay(client)
    assert_same_as_reference(results)
