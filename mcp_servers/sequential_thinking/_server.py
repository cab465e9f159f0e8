"""The sequential-thinking MCP server: ``sequentialthinking`` and ``decompose_task``.

This module does not use ``from __future__ import annotations``: the resolvers
that sample the client's model are closures, and the SDK reads their
``Annotated[..., Resolve(fn)]`` annotations at registration.
"""

import logging
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, CreateMessageResult, TextContent, ToolAnnotations
from pydantic import Field, WithJsonSchema

from mcp_servers.sequential_thinking._model_plan import (
    check_answer,
    planning_request,
    repair_request,
)
from mcp_servers.sequential_thinking._plan import (
    MAX_STEPS_LIMIT,
    Plan,
    PlanStep,
    PlanUsage,
    Signals,
    enforce_policy,
    read_inputs,
)
from mcp_servers.sequential_thinking._rules import plan_with_rules
from mcp_servers.sequential_thinking._settings import SequentialThinkingSettings
from mcp_servers.sequential_thinking._thoughts import (
    MAX_SAFE_INTEGER,
    ThoughtResult,
    ThoughtThreads,
    read_thought,
    thread_owner,
)
from mcp_servers.sequential_thinking.errors import PlanningError, SequentialThinkingError
from promptcraft.identity.mcp_auth import current_caller
from promptcraft.mcp_host import new_mcp_server
from promptcraft.models import (
    ChatRequest,
    ChatResponse,
    ModelError,
    Usage,
    client_offers_sampling,
    create_chat_model,
    sampling_request,
    sampling_response,
)
from promptcraft.runtime import Runtime

logger = logging.getLogger(__name__)

NAME = "sequential-thinking"
MOUNT_PATH = f"/mcp/{NAME}"

INSTRUCTIONS = """Step-by-step reasoning and planning.

- sequentialthinking: record one thought at a time (numbered, revisable, branchable) while you \
work through a problem; your history is kept per session (or per threadId you choose).
- decompose_task: turn a goal (and optional code in context.project_context.file_content) into \
an execution plan of typed steps with approval gates."""

THINKING_DESCRIPTION = """Think through a problem one step at a time, with room to revise and branch.

Call it once per thought. Each call records the thought in your history and tells you where \
you are. Use it to break a complex problem into steps, to plan with room for correction, or \
when the full scope is not clear yet.

- Start with an estimate of how many thoughts you need (totalThoughts); change it at any time. \
thoughtNumber may go past it: totalThoughts then rises with it.
- Question or correct an earlier thought: set isRevision to true and revisesThought to its number.
- Explore an alternative: set branchFromThought to the thought you branch from and branchId to a \
name for the branch; keep the same branchId to continue it.
- Reached the end but need more: set needsMoreThoughts to true and carry on.
- Form a hypothesis, check it against the previous thoughts, and repeat until satisfied.
- Set nextThoughtNeeded to false only when you are done and have a satisfactory answer.

Your history is kept per session; pass threadId to keep separate lines of thought, or to \
continue one across sessions. Numbers and booleans may be sent as strings."""

DECOMPOSE_DESCRIPTION = f"""Turn a goal into an execution plan: typed steps, agents, durations and \
approval gates.

goal: what to build or change, in a few sentences (no code here).
context (optional): {{"project_context": {{"file_content": "<code>", "current_file": "app.py", \
"repo_url": "..."}}, "execution_preferences": {{"require_approval": true, "security_level": \
"strict|standard|permissive"}}, "options": {{"enable_human_loop": true}}}}.
max_steps: 2 to {MAX_STEPS_LIMIT} (default 8).

Step types: code_generation, security_analysis, testing, documentation, deployment, generic. \
Deployment and external API steps always require approval. With a model configured (or your \
client's model through sampling) the model plans; otherwise a deterministic planner does \
(planner: "rules"), and generates no code."""


def _strip_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _number_schema(description: str) -> Any:
    return WithJsonSchema(
        {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER, "description": description}
    )


def _flag_schema(description: str) -> Any:
    return WithJsonSchema({"description": description, "type": ["boolean", "string"]})


_OPTIONAL = Field(json_schema_extra=_strip_default)


def _session_id(ctx: Context[Any, Any]) -> str | None:
    headers = ctx.headers
    return headers.get("mcp-session-id") if headers is not None else None


def create_server(settings: SequentialThinkingSettings, runtime: Runtime) -> MCPServer:
    """The server, with its tools; history goes to ``runtime.store``."""
    if settings.model.provider != "none":
        settings.model.check()  # refuse to start on a missing or placeholder setting
    server = new_mcp_server(NAME, instructions=INSTRUCTIONS, runtime=runtime, mount_path=MOUNT_PATH)
    threads = ThoughtThreads(runtime.store, settings)

    @server.tool(
        name="sequentialthinking",
        title="Sequential Thinking",
        description=THINKING_DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def sequentialthinking(  # noqa: PLR0917 - the reference's parameters
        thought: Annotated[
            str, WithJsonSchema({"type": "string", "description": "Your current thinking step"})
        ],
        nextThoughtNeeded: Annotated[Any, _flag_schema("Whether another thought step is needed")],
        thoughtNumber: Annotated[
            Any, _number_schema("Current thought number (numeric value, e.g., 1, 2, 3)")
        ],
        totalThoughts: Annotated[
            Any, _number_schema("Estimated total thoughts needed (numeric value, e.g., 5, 10)")
        ],
        ctx: Context,
        isRevision: Annotated[
            Any, _flag_schema("Whether this revises previous thinking"), _OPTIONAL
        ] = None,
        revisesThought: Annotated[
            Any,
            WithJsonSchema(
                {
                    "description": "Which thought is being reconsidered",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SAFE_INTEGER,
                }
            ),
            _OPTIONAL,
        ] = None,
        branchFromThought: Annotated[
            Any,
            WithJsonSchema(
                {
                    "description": "Branching point thought number",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SAFE_INTEGER,
                }
            ),
            _OPTIONAL,
        ] = None,
        branchId: Annotated[
            str | None,
            WithJsonSchema({"description": "Branch identifier", "type": "string"}),
            _OPTIONAL,
        ] = None,
        needsMoreThoughts: Annotated[
            Any, _flag_schema("If more thoughts are needed"), _OPTIONAL
        ] = None,
        threadId: Annotated[
            str | None,
            WithJsonSchema(
                {
                    "description": (
                        "Optional name of a line of thought; the same threadId continues the "
                        "same history. Leave it out to use this session's history."
                    ),
                    "type": "string",
                    "maxLength": 200,
                }
            ),
            _OPTIONAL,
        ] = None,
    ) -> Annotated[CallToolResult, ThoughtResult]:
        arguments = {
            "thought": thought,
            "nextThoughtNeeded": nextThoughtNeeded,
            "thoughtNumber": thoughtNumber,
            "totalThoughts": totalThoughts,
            "isRevision": isRevision,
            "revisesThought": revisesThought,
            "branchFromThought": branchFromThought,
            "branchId": branchId,
            "needsMoreThoughts": needsMoreThoughts,
        }
        caller = current_caller()
        try:
            parsed = read_thought(arguments, settings.max_thought_chars)
            owner = thread_owner(
                username=caller.username if caller else None,
                thread_id=threadId,
                session_id=_session_id(ctx),
            )
            result = await threads.record(owner, parsed)
        except SequentialThinkingError as exc:
            raise ToolError(str(exc)) from exc
        logger.debug("thought %d/%d recorded", result.thoughtNumber, result.totalThoughts)
        return CallToolResult(
            content=[TextContent(type="text", text=result.as_text())],
            structured_content=result.model_dump(),
        )

    def inputs(goal: str, context: dict[str, Any], max_steps: int) -> tuple[Signals, int]:
        try:
            return read_inputs(
                goal,
                context,
                max_steps,
                max_goal_chars=settings.max_goal_chars,
                max_context_chars=settings.max_context_chars,
            )
        except SequentialThinkingError as exc:
            raise ToolError(str(exc)) from exc

    def first_request(signals: Signals, max_steps: int) -> ChatRequest:
        return planning_request(
            signals,
            max_steps,
            prompt_code_chars=settings.prompt_code_chars,
            max_tokens=settings.plan_max_tokens,
        )

    def samples(ctx: Context[Any, Any]) -> bool:
        """Whether this call plans with the client's model (no model of our own configured)."""
        return (
            settings.planner == "auto"
            and settings.model.provider == "none"
            and settings.model.sampling
            and client_offers_sampling(ctx)
        )

    async def sample_plan(goal: str, context: dict[str, Any], max_steps: int, ctx: Context) -> Any:
        if not samples(ctx):
            return None
        signals, steps = inputs(goal, context, max_steps)
        return sampling_request(first_request(signals, steps))

    async def sample_repair(
        first: Annotated[Any, Resolve(sample_plan)],
        goal: str,
        context: dict[str, Any],
        max_steps: int,
    ) -> Any:
        if first is None:
            return None
        signals, steps = inputs(goal, context, max_steps)
        request = first_request(signals, steps)
        response = sampling_response(first, request)
        problem = check_answer(response, steps)
        if not isinstance(problem, str):
            return None
        return sampling_request(repair_request(request, response.content, problem))

    @server.tool(
        name="decompose_task",
        title="Decompose a task into an execution plan",
        description=DECOMPOSE_DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=settings.model.provider != "none",
        ),
    )
    async def decompose_task(  # noqa: PLR0917 - tool arguments and resolved values
        goal: Annotated[str, Field(description="What to build or change, in a few sentences.")],
        ctx: Context,
        sampled: Annotated[CreateMessageResult | None, Resolve(sample_plan)],
        sampled_repair: Annotated[CreateMessageResult | None, Resolve(sample_repair)],
        context: Annotated[
            dict[str, Any],
            Field(
                description=(
                    "Optional: project_context (file_content, current_file, repo_url), "
                    "execution_preferences (require_approval, security_level), options "
                    "(enable_human_loop)."
                )
            ),
        ] = {},  # noqa: B006 - pydantic copies defaults
        max_steps: Annotated[
            int,
            Field(
                description=f"Most steps the plan may have, 2 to {MAX_STEPS_LIMIT}.",
                json_schema_extra={"minimum": 2, "maximum": MAX_STEPS_LIMIT},
            ),
        ] = 8,
    ) -> Plan:
        signals, steps = inputs(goal, context, max_steps)
        try:
            if sampled is not None:
                return _from_answers(
                    signals,
                    steps,
                    first_request(signals, steps),
                    [sampled, sampled_repair],
                )
            model = create_chat_model(settings.model)
            try:
                if settings.planner == "rules" or not model.available:
                    return plan_with_rules(
                        signals, steps, can_generate=model.available or samples(ctx)
                    )
                return await _with_model(model, signals, steps, first_request(signals, steps))
            finally:
                await model.aclose()
        except (SequentialThinkingError, ModelError) as exc:
            raise ToolError(str(exc)) from exc

    return server


async def _with_model(model: Any, signals: Signals, max_steps: int, request: ChatRequest) -> Plan:
    responses: list[ChatResponse] = []
    problems: list[str] = []
    for _attempt in range(2):
        response = await model.complete(request)
        responses.append(response)
        checked = check_answer(response, max_steps)
        if not isinstance(checked, str):
            return _plan(signals, checked, responses)
        problems.append(checked)
        request = repair_request(request, response.content, checked)
    raise PlanningError(_invalid_twice(problems))


def _from_answers(
    signals: Signals,
    max_steps: int,
    request: ChatRequest,
    answers: list[CreateMessageResult | None],
) -> Plan:
    responses: list[ChatResponse] = []
    problems: list[str] = []
    for answer in answers:
        if answer is None:
            break
        response = sampling_response(answer, request)
        responses.append(response)
        checked = check_answer(response, max_steps)
        if not isinstance(checked, str):
            return _plan(signals, checked, responses)
        problems.append(checked)
    raise PlanningError(_invalid_twice(problems))


def _invalid_twice(problems: list[str]) -> str:
    return (
        "the model answered an invalid plan twice (" + "; then ".join(problems) + "): call "
        "decompose_task again, or set PROMPTCRAFT_SEQUENTIAL_THINKING_PLANNER=rules for the "
        "deterministic planner"
    )


def _plan(
    signals: Signals, checked: tuple[list[PlanStep], str], responses: list[ChatResponse]
) -> Plan:
    steps, rationale = checked
    total = Usage()
    for response in responses:
        total = total + response.usage
    return Plan(
        steps=enforce_policy(steps, signals),
        rationale=rationale or "Planned by the model.",
        planner="model",
        usage=PlanUsage(
            input_tokens=total.input_tokens,
            output_tokens=total.output_tokens,
            cost_usd=total.cost_usd,
            model=responses[-1].model,
            calls=len(responses),
        ),
    )
