"""Plans: their shape, the inputs they are made from, and the policy every plan obeys.

The policy (applied to rules plans and model plans alike):

- a ``deployment`` step always waits for human approval (REQUIRE_APPROVAL_FOR_DEPLOYMENT);
- a step that calls an external API waits for approval (REQUIRE_APPROVAL_FOR_EXTERNAL_API);
- when the goal touches data (databases, records, personal data) the security
  analysis waits for approval (a ``data_access`` approval);
- with ``security_level: strict`` the security analysis waits for approval;
- with ``require_approval`` and ``enable_human_loop`` (both default true) generated
  code waits for approval before it is used.

Gates that depend on results (security issues left, tests under 0.8) are the
orchestrator's: a plan cannot know them in advance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_servers.sequential_thinking.errors import InvalidGoalError

StepType = Literal[
    "code_generation", "security_analysis", "testing", "documentation", "deployment", "generic"
]
STEP_TYPES: tuple[str, ...] = (
    "code_generation",
    "security_analysis",
    "testing",
    "documentation",
    "deployment",
    "generic",
)

AGENTS: dict[str, str] = {
    "code_generation": "code_generator",
    "security_analysis": "code_analysis",
    "testing": "code_interpreter",
    "documentation": "documenter",
    "deployment": "deployer",
    "generic": "planner",
}
"""Default agent per step type: the PromptCraft server or role that carries the step out."""

MAX_STEPS_LIMIT = 20


class PlanStep(BaseModel):
    step: int = Field(description="1-based position in the plan.")
    description: str
    type: StepType
    agent: str
    estimated_duration: str = Field(description='e.g. "2 minutes"')
    requires_approval: bool


class PlanUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    model: str | None = None
    calls: int = 0


class Plan(BaseModel):
    steps: list[PlanStep]
    rationale: str
    planner: Literal["model", "rules"]
    usage: PlanUsage = Field(default_factory=PlanUsage)
    warnings: list[str] = Field(
        default_factory=list,
        description="What the plan could not cover and what to configure or supply for it.",
    )


_DEPLOY = re.compile(
    r"\b(deploy\w*|release|ship it|ship to|publish\w*|roll ?out|go live|in production|"
    r"to production|to prod|to staging|kubernetes|k8s|helm|terraform apply|docker push)\b",
    re.IGNORECASE,
)
_EXTERNAL_API = re.compile(
    r"(https?://|\b(apis?|endpoints?|webhooks?|rest|graphql|grpc|third[- ]party|"
    r"external (service|system)|oauth|stripe|twilio|slack|github|openai|http (call|request)s?)\b)",
    re.IGNORECASE,
)
_NETWORK_CODE = re.compile(
    r"^\s*(import|from)\s+(requests|httpx|httpx2|aiohttp|urllib3?|http\.client|socket|grpc)\b",
    re.MULTILINE,
)
_DATA = re.compile(
    r"\b(databases?|db|sql\w*|postgres\w*|mysql|mongo\w*|redis|tables?|migrations?|records?|"
    r"rows?|delete|drop|truncate|pii|personal data|customer data|user data|csv|datasets?|etl|"
    r"backups?)\b",
    re.IGNORECASE,
)
_DATA_CODE = re.compile(
    r"^\s*(import|from)\s+(sqlite3|psycopg\w*|sqlalchemy|pymongo|redis|mysql\w*|pandas)\b|"
    r"\b(DELETE\s+FROM|DROP\s+TABLE|TRUNCATE|UPDATE\s+\w+\s+SET)\b",
    re.MULTILINE | re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(implement\w*|create\w*|write|build\w*|add\w*|generat\w*|make|develop\w*|refactor\w*|"
    r"fix\w*|update\w*|change\w*|modify\w*|port\w*|migrat\w*|convert\w*|optimi[sz]\w*|"
    r"extend\w*|rewrite\w*|improve\w*|harden\w*|patch\w*)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the planner reads from the goal and context."""

    goal: str
    code: str
    current_file: str
    repo_url: str
    require_approval: bool
    enable_human_loop: bool
    security_level: str
    wants_change: bool
    wants_deploy: bool
    external_api: bool
    touches_data: bool

    @property
    def has_code(self) -> bool:
        return bool(self.code.strip())

    @property
    def code_lines(self) -> int:
        return len(self.code.splitlines())

    @property
    def human_loop(self) -> bool:
        return self.require_approval and self.enable_human_loop


def _get(mapping: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = mapping.get(key, default)
    if value is None:
        return default
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidGoalError(
            f"context.{where}{key} is a {type(value).__name__}; send a {kind.__name__} "
            f"(or leave it out)"
        )
    return value


def _section(context: dict[str, Any], key: str) -> dict[str, Any]:
    value = context.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidGoalError(
            f"context.{key} is a {type(value).__name__}; send an object such as "
            + (
                '{"file_content": "def f(): ..."}'
                if key == "project_context"
                else '{"require_approval": true}'
            )
        )
    return value


def read_inputs(
    goal: object,
    context: object,
    max_steps: object,
    *,
    max_goal_chars: int,
    max_context_chars: int,
) -> tuple[Signals, int]:
    """Check ``decompose_task``'s arguments and read the planning signals from them."""
    if not isinstance(goal, str) or not goal.strip():
        raise InvalidGoalError(
            "goal is empty: send one or more sentences saying what to build or change, e.g. "
            '"Add input validation to parse_date() and test it"'
        )
    goal = goal.strip()
    if len(goal) > max_goal_chars:
        raise InvalidGoalError(
            f"goal is {len(goal)} characters; the limit is {max_goal_chars}: keep the goal to "
            "what should be done and put code or long specifications in "
            "context.project_context.file_content"
        )
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise InvalidGoalError(
            f"context is a {type(context).__name__}; send a JSON object such as "
            '{"project_context": {"file_content": "..."}, "execution_preferences": '
            '{"require_approval": true}}'
        )
    size = len(json.dumps(context, default=str))
    if size > max_context_chars:
        raise InvalidGoalError(
            f"context is {size} characters as JSON; the limit is {max_context_chars}: send "
            "only the file the goal is about"
        )
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        raise InvalidGoalError(f"max_steps must be a whole number from 2 to {MAX_STEPS_LIMIT}")
    if not 2 <= max_steps <= MAX_STEPS_LIMIT:
        raise InvalidGoalError(
            f"max_steps is {max_steps}, out of range: send a number from 2 to {MAX_STEPS_LIMIT} "
            "(8 suits most goals)"
        )
    project = _section(context, "project_context")
    prefs = _section(context, "execution_preferences")
    options = _section(context, "options")
    code = _get(project, "file_content", str, "project_context.", "") or _get(
        context, "file_content", str, "", ""
    )
    level = _get(prefs, "security_level", str, "execution_preferences.", "standard")
    if level not in ("strict", "standard", "permissive"):
        raise InvalidGoalError(
            f"context.execution_preferences.security_level is {level!r}; send strict, "
            "standard or permissive"
        )
    return (
        Signals(
            goal=goal,
            code=code,
            current_file=_get(project, "current_file", str, "project_context.", ""),
            repo_url=_get(project, "repo_url", str, "project_context.", ""),
            require_approval=_get(prefs, "require_approval", bool, "execution_preferences.", True),
            enable_human_loop=_get(options, "enable_human_loop", bool, "options.", True),
            security_level=level,
            wants_change=bool(_CHANGE.search(goal)),
            wants_deploy=bool(_DEPLOY.search(goal)),
            external_api=bool(_EXTERNAL_API.search(goal) or _NETWORK_CODE.search(code)),
            touches_data=bool(_DATA.search(goal) or _DATA_CODE.search(code)),
        ),
        max_steps,
    )


def enforce_policy(steps: list[PlanStep], signals: Signals) -> list[PlanStep]:
    """Renumber the steps and raise approval flags the policy demands (never lower them)."""
    enforced = []
    for number, step in enumerate(steps, start=1):
        approval = step.requires_approval
        if step.type == "deployment":
            approval = True
        if step.type == "code_generation" and signals.human_loop:
            approval = True
        if step.type == "security_analysis" and (
            signals.touches_data or signals.security_level == "strict"
        ):
            approval = True
        if (
            signals.external_api
            and step.type in ("generic", "testing", "deployment")
            and _EXTERNAL_API.search(step.description)
        ):
            approval = True
        enforced.append(
            step.model_copy(
                update={
                    "step": number,
                    "requires_approval": approval,
                    "agent": step.agent.strip() or AGENTS[step.type],
                }
            )
        )
    return enforced
