"""The ``sequentialthinking`` tool's rules: lenient argument reading and per-caller history.

Compatible with the reference server (``@modelcontextprotocol/server-sequential-thinking``):

- numbers may arrive as JSON numbers or strings (``"3"``, ``"3.0"``, ``" 3 "``) and
  must be whole and at least 1; booleans as ``true``/``false`` or the strings
  ``"true"``/``"false"`` in any case;
- ``totalThoughts`` rises to ``thoughtNumber`` when it is smaller;
- a thought counts towards a branch only when it has both ``branchFromThought`` and
  a non-empty ``branchId``; ``branches`` lists branch ids in order of first use;
- the result is ``thoughtNumber, totalThoughts, nextThoughtNeeded, branches,
  thoughtHistoryLength``, as structured content and as 2-space-indented JSON text.

Where it deliberately differs: ``null`` for an optional argument means "not sent"
(the reference refuses it); a boolean is not accepted as a number (the reference
reads ``true`` as 1); thoughts longer than ``max_thought_chars`` are refused; and
history belongs to a thread, one per caller, not to the whole process.

A thread is chosen, in order, by an explicit ``threadId``, else the MCP session
(``Mcp-Session-Id`` on streamable HTTP), else the process (stdio serves one client).
Each is scoped to the authenticated user, so one user cannot reach another's
thread. A thread keeps its last ``max_thoughts_per_thread`` thoughts (the count
keeps rising), at most ``max_branches_per_thread`` branch ids, and is forgotten
``thread_ttl_minutes`` after its last thought. Threads live in the state store, so
every replica behind a load balancer sees the same history.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, WithJsonSchema

from mcp_servers.sequential_thinking._settings import SequentialThinkingSettings
from mcp_servers.sequential_thinking.errors import InvalidThoughtError, ThreadLimitError
from promptcraft.errors import RecordExistsError, RecordNotFoundError, VersionConflictError
from promptcraft.store import JSONObject, StateStore

THREAD_KIND = "thought_thread"
MAX_SAFE_INTEGER = 9_007_199_254_740_991  # the reference's bound (JavaScript's)
MAX_BRANCH_ID_CHARS = 200
MAX_THREAD_ID_CHARS = 200

_Number = Annotated[int, WithJsonSchema({"type": "number"})]


class ThoughtResult(BaseModel):
    """Where the thinking stands after this thought (the reference server's fields, exactly)."""

    model_config = ConfigDict(extra="forbid")

    thoughtNumber: _Number
    totalThoughts: _Number
    nextThoughtNeeded: bool
    branches: list[str]
    thoughtHistoryLength: _Number

    def as_text(self) -> str:
        """The reference's text content: ``JSON.stringify(result, null, 2)``."""
        return json.dumps(self.model_dump(), indent=2, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Thought:
    thought: str
    thought_number: int
    total_thoughts: int
    next_thought_needed: bool
    is_revision: bool | None = None
    revises_thought: int | None = None
    branch_from_thought: int | None = None
    branch_id: str | None = None
    needs_more_thoughts: bool | None = None

    def as_record(self) -> JSONObject:
        record: JSONObject = {
            "thought": self.thought,
            "thoughtNumber": self.thought_number,
            "totalThoughts": self.total_thoughts,
            "nextThoughtNeeded": self.next_thought_needed,
        }
        optional: dict[str, Any] = {
            "isRevision": self.is_revision,
            "revisesThought": self.revises_thought,
            "branchFromThought": self.branch_from_thought,
            "branchId": self.branch_id,
            "needsMoreThoughts": self.needs_more_thoughts,
        }
        record.update({k: v for k, v in optional.items() if v is not None})
        return record


def _whole_number(name: str, value: object, *, required: bool) -> int | None:
    example = f"send {name} as a whole number of at least 1, e.g. {name}: 3"
    if value is None:
        if required:
            raise InvalidThoughtError(f"{name} is missing: {example}")
        return None
    number: float
    if isinstance(value, bool):
        raise InvalidThoughtError(f"{name} is {json.dumps(value)}, a boolean: {example}")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidThoughtError(f"{name} is {json.dumps(value)}: {example}") from None
    else:
        raise InvalidThoughtError(f"{name} is a {type(value).__name__}: {example}")
    if not math.isfinite(number) or number != int(number):
        raise InvalidThoughtError(f"{name} is {json.dumps(value)}, not a whole number: {example}")
    whole = int(number)
    if whole < 1 or whole > MAX_SAFE_INTEGER:
        raise InvalidThoughtError(
            f"{name} is {whole}, out of range: {example} (at most {MAX_SAFE_INTEGER})"
        )
    return whole


def _flag(name: str, value: object, *, required: bool) -> bool | None:
    example = f"send {name} as true or false"
    if value is None:
        if required:
            raise InvalidThoughtError(f"{name} is missing: {example}")
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidThoughtError(f"{name} is {json.dumps(value, default=str)}: {example}")


def read_thought(arguments: dict[str, Any], max_chars: int) -> Thought:
    """The thought these (already JSON-decoded) arguments describe, or InvalidThoughtError."""
    text = arguments.get("thought")
    if text is None:
        raise InvalidThoughtError(
            "thought is missing: send your current thinking step as a string in thought"
        )
    if not isinstance(text, str):
        raise InvalidThoughtError(
            f"thought is a {type(text).__name__}: send your current thinking step as a string"
        )
    if len(text) > max_chars:
        raise InvalidThoughtError(
            f"thought is {len(text)} characters; the limit is {max_chars}: split it into "
            "several thoughts (raise thoughtNumber and totalThoughts as you go)"
        )
    branch_id = arguments.get("branchId")
    if branch_id is not None and not isinstance(branch_id, str):
        raise InvalidThoughtError(
            f"branchId is a {type(branch_id).__name__}: send a short string such as "
            '"alternative-1", or leave it out'
        )
    if branch_id is not None and len(branch_id) > MAX_BRANCH_ID_CHARS:
        raise InvalidThoughtError(
            f"branchId is {len(branch_id)} characters; send at most {MAX_BRANCH_ID_CHARS}"
        )
    number = _whole_number("thoughtNumber", arguments.get("thoughtNumber"), required=True)
    total = _whole_number("totalThoughts", arguments.get("totalThoughts"), required=True)
    next_needed = _flag("nextThoughtNeeded", arguments.get("nextThoughtNeeded"), required=True)
    assert number is not None and total is not None and next_needed is not None
    return Thought(
        thought=text,
        thought_number=number,
        total_thoughts=max(total, number),
        next_thought_needed=next_needed,
        is_revision=_flag("isRevision", arguments.get("isRevision"), required=False),
        revises_thought=_whole_number(
            "revisesThought", arguments.get("revisesThought"), required=False
        ),
        branch_from_thought=_whole_number(
            "branchFromThought", arguments.get("branchFromThought"), required=False
        ),
        branch_id=branch_id,
        needs_more_thoughts=_flag(
            "needsMoreThoughts", arguments.get("needsMoreThoughts"), required=False
        ),
    )


def thread_owner(*, username: str | None, thread_id: str | None, session_id: str | None) -> str:
    """Who a thread belongs to, as a readable string (see the module docstring)."""
    principal = f"user:{username}" if username else "anonymous"
    if thread_id is not None:
        if not thread_id.strip() or len(thread_id) > MAX_THREAD_ID_CHARS:
            raise InvalidThoughtError(
                f"threadId must be 1 to {MAX_THREAD_ID_CHARS} characters, e.g. "
                '"refactor-auth-1"; leave it out to use your session'
            )
        return f"{principal}/thread/{thread_id}"
    if session_id:
        return f"{principal}/session/{session_id}"
    return f"{principal}/process"


class ThoughtThreads:
    """Thought histories in the state store, one record per thread."""

    def __init__(self, store: StateStore, settings: SequentialThinkingSettings) -> None:
        self._store = store
        self._settings = settings
        self._ttl = timedelta(minutes=settings.thread_ttl_minutes)

    @staticmethod
    def key(owner: str) -> str:
        return hashlib.sha256(owner.encode()).hexdigest()[:40]

    async def record(self, owner: str, thought: Thought) -> ThoughtResult:
        """Append ``thought`` to the owner's thread and say what the reference would."""
        key = self.key(owner)
        for _ in range(100):
            current = await self._store.get(THREAD_KIND, key)
            data = self._appended(
                dict(current.data) if current else {"owner": owner, "count": 0}, thought
            )
            try:
                if current is None:
                    await self._store.create(THREAD_KIND, key, data, ttl=self._ttl)
                else:
                    await self._store.update(
                        THREAD_KIND, key, data, expected_version=current.version, ttl=self._ttl
                    )
            except (RecordExistsError, VersionConflictError, RecordNotFoundError):
                continue  # another call on the same thread got there first: reapply
            branch_ids = data["branch_ids"]
            count = data["count"]
            assert isinstance(branch_ids, list) and isinstance(count, int)
            return ThoughtResult(
                thoughtNumber=thought.thought_number,
                totalThoughts=thought.total_thoughts,
                nextThoughtNeeded=thought.next_thought_needed,
                branches=[str(b) for b in branch_ids],
                thoughtHistoryLength=count,
            )
        raise ThreadLimitError("this thread is being written by too many calls at once: retry")

    async def history(self, owner: str) -> list[JSONObject]:
        record = await self._store.get(THREAD_KIND, self.key(owner))
        if record is None:
            return []
        thoughts = record.data.get("thoughts", [])
        assert isinstance(thoughts, list)
        return [t for t in thoughts if isinstance(t, dict)]

    def _appended(self, data: dict[str, Any], thought: Thought) -> JSONObject:
        limit = self._settings.max_thoughts_per_thread
        thoughts = [*data.get("thoughts", []), thought.as_record()][-limit:]
        branch_ids: list[str] = list(data.get("branch_ids", []))
        branch_sizes: dict[str, int] = dict(data.get("branch_sizes", {}))
        if thought.branch_from_thought and thought.branch_id:
            if thought.branch_id not in branch_sizes:
                if len(branch_ids) >= self._settings.max_branches_per_thread:
                    raise ThreadLimitError(
                        f"this thread already has {len(branch_ids)} branches, the limit: "
                        "continue one of them (reuse its branchId) or start a new thread "
                        "(a new threadId)"
                    )
                branch_ids.append(thought.branch_id)
            branch_sizes[thought.branch_id] = branch_sizes.get(thought.branch_id, 0) + 1
        return {
            "owner": data["owner"],
            "count": int(data.get("count", 0)) + 1,
            "thoughts": thoughts,
            "branch_ids": list(branch_ids),
            "branch_sizes": dict(branch_sizes),
        }
