"""Planning with a model: the prompt, the JSON schema it must answer in, and checking the answer.

The model answers a schema-constrained JSON document. It is validated here; an
invalid answer gets one repair round (the model sees its answer and what is
wrong with it); a second invalid answer is an error. Valid plans then go through
the same policy as rules plans (:func:`~._plan.enforce_policy`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcp_servers.sequential_thinking._plan import AGENTS, STEP_TYPES, PlanStep, Signals, StepType
from promptcraft.models import ChatMessage, ChatRequest, ChatResponse, parse_json_content

SYSTEM_PROMPT = """You plan software work for PromptCraft, which turns a developer's goal into \
reviewed, tested code. Break the goal into a short sequence of executable steps.

Each step has a type, one of:
- code_generation: write or change code (agent code_generator)
- security_analysis: scan code for vulnerabilities and unsafe patterns (agent code_analysis)
- testing: run tests against the code in a sandbox without network (agent code_interpreter)
- documentation: document the result (agent documenter)
- deployment: deploy the result (agent deployer)
- generic: anything else, such as analysing requirements or reviewing (agent planner)

Rules:
- Whenever code is generated or supplied, include a security_analysis and a testing step after it.
- Set requires_approval to true for deployment steps, for steps that call external APIs or \
services, and for steps that change or delete data.
- End with a documentation step.
- Give estimated_duration as a short phrase such as "2 minutes".
- Use at most {max_steps} steps. Explain the plan briefly in rationale."""


class _ModelStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1, max_length=2000)
    type: StepType
    agent: str = Field(default="", max_length=100)
    estimated_duration: str = Field(default="", max_length=100)
    requires_approval: bool = False


class _ModelPlan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    steps: list[_ModelStep] = Field(min_length=1)
    rationale: str = Field(default="", max_length=4000)


def output_schema(max_steps: int) -> dict[str, Any]:
    """The JSON schema the model's answer must follow."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_steps,
                "items": {
                    "type": "object",
                    "properties": {
                        "description": {"type": "string"},
                        "type": {"type": "string", "enum": list(STEP_TYPES)},
                        "agent": {"type": "string"},
                        "estimated_duration": {"type": "string"},
                        "requires_approval": {"type": "boolean"},
                    },
                    "required": [
                        "description",
                        "type",
                        "agent",
                        "estimated_duration",
                        "requires_approval",
                    ],
                    "additionalProperties": False,
                },
            },
            "rationale": {"type": "string"},
        },
        "required": ["steps", "rationale"],
        "additionalProperties": False,
    }


def planning_request(
    signals: Signals, max_steps: int, *, prompt_code_chars: int, max_tokens: int
) -> ChatRequest:
    """The first planning request (deterministic for the same inputs)."""
    lines = [f"Goal: {signals.goal}"]
    if signals.current_file:
        lines.append(f"Current file: {signals.current_file}")
    if signals.repo_url:
        lines.append(f"Repository: {signals.repo_url}")
    if signals.has_code:
        code = signals.code
        if len(code) > prompt_code_chars:
            code = code[:prompt_code_chars] + f"\n... ({signals.code_lines} lines in all)"
        lines.append(f"Supplied code:\n```\n{code}\n```")
    else:
        lines.append("No code is supplied.")
    lines.append(
        "Preferences: "
        + json.dumps(
            {
                "require_approval": signals.require_approval,
                "enable_human_loop": signals.enable_human_loop,
                "security_level": signals.security_level,
            }
        )
    )
    return ChatRequest(
        messages=[
            ChatMessage("system", SYSTEM_PROMPT.format(max_steps=max_steps)),
            ChatMessage("user", "\n\n".join(lines)),
        ],
        json_schema=output_schema(max_steps),
        schema_name="execution_plan",
        max_tokens=max_tokens,
        temperature=0.0,
    )


def repair_request(first: ChatRequest, answer: str, problem: str) -> ChatRequest:
    """The one follow-up request after an invalid answer."""
    return ChatRequest(
        messages=[
            *first.messages,
            ChatMessage("assistant", answer[:20_000]),
            ChatMessage(
                "user",
                f"That answer is not a valid plan: {problem}. Reply again with only the "
                "corrected JSON document.",
            ),
        ],
        json_schema=first.json_schema,
        schema_name=first.schema_name,
        max_tokens=first.max_tokens,
        temperature=first.temperature,
    )


def check_answer(response: ChatResponse, max_steps: int) -> tuple[list[PlanStep], str] | str:
    """The steps and rationale in a model's answer, or a description of what is wrong."""
    if response.finish_reason == "length":
        return "the answer was cut off at the token limit; make it shorter"
    data = response.parsed if response.parsed is not None else parse_json_content(response.content)
    if data is None:
        snippet = response.content.strip()[:80] or "(empty)"
        return f"it is not JSON (it starts {snippet!r})"
    try:
        plan = _ModelPlan.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'document'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        return f"it does not match the schema ({problems})"
    if len(plan.steps) > max_steps:
        return f"it has {len(plan.steps)} steps; at most {max_steps} are allowed"
    steps = [
        PlanStep(
            step=number,
            description=step.description.strip(),
            type=step.type,
            agent=step.agent.strip() or AGENTS[step.type],
            estimated_duration=step.estimated_duration.strip() or "unknown",
            requires_approval=step.requires_approval,
        )
        for number, step in enumerate(plan.steps, start=1)
    ]
    return steps, plan.rationale.strip()
