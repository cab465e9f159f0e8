"""The deterministic planner: the same goal and context always give the same plan.

It reads (see :func:`~mcp_servers.sequential_thinking._plan.read_inputs`):

- whether code is supplied (``context.project_context.file_content``);
- whether the goal asks for a change (implement, add, fix, refactor, ...), a
  deployment (deploy, release, publish, to production, ...), calls an external API
  (API, webhook, URL, a third-party service, or network imports in the code), or
  touches data (database, records, delete, personal data, or database code);
- the preferences ``require_approval``, ``enable_human_loop`` and ``security_level``.

And plans, in this order, only the steps that have something to work on:

1. ``generic`` analysis: of the supplied code, or of the goal's requirements;
2. ``code_generation``: only when a model can generate (``can_generate``) and the
   goal asks for a change or no code is supplied;
3. ``security_analysis`` and 4. ``testing``: whenever there is code (supplied or
   generated);
5. a ``generic`` review of the external API calls, when there are any and code;
6. ``deployment``, when the goal asks for one;
7. ``documentation``.

Approval flags follow the policy in ``_plan``. When ``max_steps`` is too small, the
analysis and then the documentation step are left out; the rest are not optional.
Without code and without a model nothing can be generated or checked: the plan is
analysis and documentation, and a warning names the settings to configure.
"""

from __future__ import annotations

from mcp_servers.sequential_thinking._plan import (
    AGENTS,
    Plan,
    PlanStep,
    Signals,
    StepType,
    enforce_policy,
)
from mcp_servers.sequential_thinking.errors import InvalidGoalError
from promptcraft.models import NOT_CONFIGURED

_GOAL_EXCERPT = 120


def _excerpt(goal: str) -> str:
    one_line = " ".join(goal.split())
    if len(one_line) <= _GOAL_EXCERPT:
        return one_line
    return one_line[: _GOAL_EXCERPT - 1].rstrip() + "…"


def _minutes(n: int) -> str:
    return f"{n} minute" if n == 1 else f"{n} minutes"


def _step(
    kind: StepType,
    description: str,
    minutes: int,
    *,
    optional: bool = False,
    agent: str | None = None,
) -> tuple[PlanStep, bool]:
    return (
        PlanStep(
            step=0,
            description=description,
            type=kind,
            agent=agent or AGENTS[kind],
            estimated_duration=_minutes(minutes),
            requires_approval=False,
        ),
        optional,
    )


def _checks(
    signals: Signals, origin: str, size_minutes: int, reasons: list[str]
) -> list[tuple[PlanStep, bool]]:
    """Security analysis, tests and, for external APIs, a review: what every piece of code gets."""
    checks = [
        _step(
            "security_analysis",
            f"Security analysis of the {origin} code: vulnerabilities, secrets, unsafe "
            "calls, complexity",
            size_minutes,
        ),
        _step(
            "testing",
            f"Run the tests against the {origin} code in the network-isolated sandbox",
            2,
        ),
    ]
    reasons.append("Every piece of code is scanned for security issues and tested.")
    if signals.external_api:
        checks.append(
            _step(
                "generic",
                "Review the external API calls before they run against the real service "
                "(the sandbox has no network)",
                5,
                agent="human_in_loop",
            )
        )
        reasons.append("External API calls need a person's approval before they run.")
    return checks


def plan_with_rules(signals: Signals, max_steps: int, *, can_generate: bool) -> Plan:
    """The deterministic plan for these signals (see the module docstring)."""
    goal = _excerpt(signals.goal)
    source = signals.current_file or "the supplied code"
    size_minutes = max(1, -(-signals.code_lines // 400))
    generate = can_generate and (signals.wants_change or not signals.has_code)
    will_have_code = signals.has_code or generate
    reasons: list[str] = []
    warnings: list[str] = []
    drafted: list[tuple[PlanStep, bool]] = []

    if signals.has_code:
        drafted.append(
            _step(
                "generic",
                f"Analyse {source} ({signals.code_lines} lines): structure, complexity and "
                f"what the goal needs from it: {goal}",
                size_minutes,
                optional=True,
                agent="code_analysis",
            )
        )
        reasons.append(f"Code is supplied ({signals.code_lines} lines): it is analysed first.")
    else:
        drafted.append(
            _step(
                "generic",
                f"Analyse the goal and write down requirements and acceptance criteria: {goal}",
                1,
                optional=True,
            )
        )
        reasons.append("No code is supplied: the plan starts from the goal's requirements.")

    if generate:
        what = "Change" if signals.has_code else "Generate"
        drafted.append(
            _step(
                "code_generation",
                f"{what} the code for: {goal} (with unit tests)",
                3 + size_minutes,
            )
        )
        reasons.append("A model is available, so the code is generated and then checked.")
    elif signals.has_code and signals.wants_change:
        warnings.append(
            "The goal asks for changes but no model is configured, so the supplied code is "
            "analysed and tested as it is; to have it changed, "
            + NOT_CONFIGURED.removeprefix("no model is configured: ")
        )
        reasons.append("No model is configured: nothing is generated.")
    elif not signals.has_code:
        warnings.append(
            "The goal needs code but none is supplied and "
            + NOT_CONFIGURED
            + "; or supply the code in context.project_context.file_content"
        )
        reasons.append(
            "No model is configured and no code is supplied: nothing can be generated, "
            "scanned or tested, so the plan records the requirements only."
        )

    if will_have_code:
        origin = "supplied" if not generate else ("resulting" if signals.has_code else "generated")
        drafted += _checks(signals, origin, size_minutes, reasons)
    if signals.touches_data:
        reasons.append(
            "The goal touches data: the security analysis waits for approval (data access)."
        )
    if signals.security_level == "strict":
        reasons.append("security_level is strict: the security analysis waits for approval.")

    if signals.wants_deploy:
        target = signals.repo_url or ("the result" if will_have_code else "the existing code")
        drafted.append(_step("deployment", f"Deploy {target} once approved: {goal}", 5))
        reasons.append("The goal asks to deploy: deployment always waits for approval.")

    drafted.append(
        _step(
            "documentation",
            "Document what was done: usage, the security findings and the test results"
            if will_have_code
            else "Document the requirements and what is needed to implement them",
            1,
            optional=True,
        )
    )
    if signals.human_loop and generate:
        reasons.append("require_approval and enable_human_loop: generated code waits for approval.")

    essential = sum(1 for _, optional in drafted if not optional)
    if essential > max_steps:
        raise InvalidGoalError(
            f"this goal needs at least {essential} steps "
            f"({', '.join(s.type for s, optional in drafted if not optional)}): "
            f"send max_steps of {essential} or more"
        )
    # Leave out optional steps, the first (analysis) first, until the plan fits.
    while len(drafted) > max_steps:
        index = next(i for i, (_, optional) in enumerate(drafted) if optional)
        dropped = drafted.pop(index)[0]
        reasons.append(
            f"The {dropped.type} step '{dropped.description[:40]}…' is left out to fit max_steps."
        )

    steps = enforce_policy([step for step, _ in drafted], signals)
    return Plan(steps=steps, rationale=" ".join(reasons), planner="rules", warnings=warnings)
