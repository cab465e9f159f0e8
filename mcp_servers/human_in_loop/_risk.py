"""The documented risk score, and the server's auto-approval policy.

score = clamp(0, 100,
    HITL_RISK_SCORES[risk_level]            (low 10, medium 40, high 70, critical 95)
  + HITL_TYPE_ADJUSTMENTS[approval_type]     (code_deployment +10, security_override +20,
                                              data_access +10, external_api +5)
  + findings in context.security_report      (critical/high +10 each, medium +5,
                                              low +1, info 0, unknown severity +5)
  + 10 when generated_code comes without a readable security report)

Reports are read in these shapes (severities compared case-insensitively, trimmed):
- SARIF 2.1: ``runs[].results[]``, the larger of ``level`` (error high, warning medium,
  note low, none info; absent: the rule's default level, else warning) and
  ``properties.security-severity`` of the result or its rule (CVSS-like number:
  >= 9 critical, >= 7 high, >= 4 medium, > 0 low);
- bandit JSON: ``results[].issue_severity``; semgrep JSON: ``results[].extra.severity``;
- PromptCraft code_analysis output: ``security_analysis.vulnerabilities[].severity`` and
  ``suggestions[].severity`` (one finding counted once by its ``id``);
- any ``issues``/``findings``/``results``/``vulnerabilities`` list whose items carry
  ``severity``, ``issue_severity`` or ``level`` (the most severe one present counts).
A report is incomplete when it lists ``errors`` (bandit, semgrep), a SARIF invocation did
not succeed, or code_analysis says ``coverage.complete`` is false.

Everything the requester sends is the requester's word, so auto-approval is the server's
policy, not the request's. A request is approved automatically only when all of these hold:
- the operator turned it on: HITL_AUTO_APPROVE_MAX_THRESHOLD > 0 (default 0: off);
- the approval_type is in HITL_AUTO_APPROVE_TYPES (never security_override);
- the request opts in with ``auto_approve_threshold``; the effective threshold is
  min(request, HITL_AUTO_APPROVE_MAX_THRESHOLD), so a request can only lower it;
- one approver is enough (required_approvers, after HITL_MIN_APPROVERS, is 1);
- risk_level is not ``critical``;
- generated_code, if any, comes with a readable security report, and the report has no
  critical/high finding, no finding of unknown severity, and is not incomplete;
- the score is at or below the effective threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from promptcraft.store import JSONObject, JSONValue

_GENERIC_LISTS = ("issues", "findings", "results", "vulnerabilities")
_ITEM_KEYS = ("severity", "issue_severity", "level")
_RANK = {"unknown": -1, "info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_POINTS = {"critical": 10, "high": 10, "medium": 5, "low": 1, "info": 0}
_UNKNOWN_POINTS = 5
_MISSING_REPORT_POINTS = 10
_SEVERE = frozenset({"critical", "high"})
_WORDS = {
    "critical": "critical",
    "crit": "critical",
    "blocker": "critical",
    "high": "high",
    "error": "high",
    "severe": "high",
    "major": "high",
    "medium": "medium",
    "moderate": "medium",
    "warning": "medium",
    "warn": "medium",
    "low": "low",
    "minor": "low",
    "note": "low",
    "info": "info",
    "informational": "info",
    "information": "info",
    "none": "info",
}
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    score: int
    effective_threshold: int | None
    auto_approve: bool
    reason: str
    severe_findings: int
    findings: int


@dataclass(frozen=True, slots=True)
class ReportReading:
    """What a security report says: one normalised severity per finding."""

    readable: bool
    severities: list[str]
    incomplete: bool = False


def normalise_severity(value: object) -> str:
    """critical, high, medium, low, info, or unknown."""
    if isinstance(value, bool):
        return "unknown"
    if isinstance(value, int | float):
        return _from_score(float(value))
    if not isinstance(value, str):
        return "unknown"
    text = value.strip().lower()
    if _NUMBER.match(text):
        return _from_score(float(text))
    return _WORDS.get(text, "unknown")


def _from_score(score: float) -> str:
    if score >= 9:
        return "critical"
    if score >= 7:
        return "high"
    if score >= 4:
        return "medium"
    if score > 0:
        return "low"
    return "info"


def _worst(values: list[str]) -> str:
    known = [v for v in values if v != "unknown"]
    return max(known, key=_RANK.__getitem__) if known else "unknown"


def _item_severity(item: JSONValue) -> str:
    """The most severe of every severity field a finding carries (bandit, semgrep, generic)."""
    if not isinstance(item, dict):
        return "unknown"
    found = [normalise_severity(item[k]) for k in _ITEM_KEYS if k in item]
    extra = item.get("extra")
    if isinstance(extra, dict) and "severity" in extra:
        found.append(normalise_severity(extra["severity"]))
    properties = item.get("properties")
    if isinstance(properties, dict) and "security-severity" in properties:
        found.append(normalise_severity(properties["security-severity"]))
    return _worst(found)


def _sarif_run(run: JSONValue) -> list[str]:
    if not isinstance(run, dict):
        return ["unknown"]
    results = run.get("results")
    if not isinstance(results, list):
        return ["unknown"]  # absent or null results: the tool did not report, not "no findings"
    rules_by_id: dict[str, JSONObject] = {}
    rules_list: list[JSONValue] = []
    tool = run.get("tool")
    driver = tool.get("driver") if isinstance(tool, dict) else None
    if isinstance(driver, dict) and isinstance(driver.get("rules"), list):
        rules_list = driver["rules"]  # type: ignore[assignment]
        for entry in rules_list:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                rules_by_id[str(entry["id"])] = entry
    severities = []
    for result in results:
        if not isinstance(result, dict):
            severities.append("unknown")
            continue
        rule: JSONValue = None
        index = result.get("ruleIndex")
        if isinstance(index, int) and 0 <= index < len(rules_list):
            rule = rules_list[index]
        elif isinstance(result.get("ruleId"), str):
            rule = rules_by_id.get(str(result["ruleId"]))
        found: list[str] = []
        level = result.get("level")
        if level is None and isinstance(rule, dict):
            config = rule.get("defaultConfiguration")
            level = config.get("level") if isinstance(config, dict) else None
        found.append(normalise_severity("warning" if level is None else level))
        for holder in (result, rule):
            props = holder.get("properties") if isinstance(holder, dict) else None
            if isinstance(props, dict) and "security-severity" in props:
                found.append(normalise_severity(props["security-severity"]))
        severities.append(_worst(found))
    return severities


def read_report(report: JSONValue) -> ReportReading:
    """Findings of a security report in any of the documented shapes; unreadable when none."""
    if not isinstance(report, dict):
        return ReportReading(False, [])
    readable = False
    severities: list[str] = []
    incomplete = False
    runs = report.get("runs")
    if isinstance(runs, list):
        readable = True
        for run in runs:
            severities.extend(_sarif_run(run))
            invocations = run.get("invocations") if isinstance(run, dict) else None
            if isinstance(invocations, list) and any(
                isinstance(i, dict) and i.get("executionSuccessful") is False for i in invocations
            ):
                incomplete = True
    errors = report.get("errors")
    if isinstance(errors, list) and errors:
        incomplete = True  # bandit and semgrep list the files they could not analyse here
    seen_ids: set[str] = set()

    def add_items(items: JSONValue) -> bool:
        if not isinstance(items, list):
            return False
        for item in items:
            ident = item.get("id") if isinstance(item, dict) else None
            if isinstance(ident, str) and ident:
                if ident in seen_ids:
                    continue
                seen_ids.add(ident)
            severities.append(_item_severity(item))
        return True

    analysis = report.get("security_analysis")
    if isinstance(analysis, dict):
        readable = add_items(analysis.get("vulnerabilities")) or readable
        coverage = report.get("coverage")
        if isinstance(coverage, dict) and coverage.get("complete") is False:
            incomplete = True
    readable = add_items(report.get("suggestions")) or readable
    if not isinstance(runs, list):
        for key in _GENERIC_LISTS:
            readable = add_items(report.get(key)) or readable
    return ReportReading(readable, severities, incomplete)


def assess(
    settings: HumanInLoopSettings,
    approval_type: str,
    context: JSONObject,
    threshold: int | None,
    required_approvers: int = 1,
) -> RiskAssessment:
    risk_level = str(context.get("risk_level", "critical"))
    base = settings.risk_scores.get(risk_level, settings.risk_scores["critical"])
    adjust = settings.type_adjustments.get(approval_type, 0)
    code = context.get("generated_code")
    has_code = isinstance(code, str) and code.strip() != ""
    reading = read_report(context.get("security_report"))
    severities = reading.severities
    points = sum(_POINTS.get(s, _UNKNOWN_POINTS) for s in severities)
    severe = sum(1 for s in severities if s in _SEVERE)
    unknown = sum(1 for s in severities if s not in _POINTS)
    missing_report = has_code and not reading.readable
    if missing_report:
        points += _MISSING_REPORT_POINTS
        severe += 1
    score = max(0, min(100, base + adjust + points))

    server = settings.auto_approve_max_threshold
    effective = None if threshold is None else min(threshold, server)
    reason = _refusal(
        settings,
        approval_type,
        risk_level,
        threshold,
        required_approvers,
        missing_report=missing_report,
        incomplete=has_code and reading.incomplete,
        severe=severe,
        unknown=unknown,
    )
    if reason is None:
        assert effective is not None
        if score > effective:
            reason = f"risk score {score} is above the threshold {effective}"
        else:
            return RiskAssessment(
                score,
                effective,
                True,
                f"risk score {score} is at or below the threshold {effective}",
                severe,
                len(severities),
            )
    return RiskAssessment(score, effective, False, reason, severe, len(severities))


def _refusal(
    settings: HumanInLoopSettings,
    approval_type: str,
    risk_level: str,
    threshold: int | None,
    required_approvers: int,
    *,
    missing_report: bool,
    incomplete: bool,
    severe: int,
    unknown: int,
) -> str | None:
    """Why this request cannot be approved automatically, or None when policy allows it."""
    if settings.auto_approve_max_threshold == 0:
        return "auto-approval is off on this server (HITL_AUTO_APPROVE_MAX_THRESHOLD=0)"
    if not settings.may_auto_approve_type(approval_type):
        return f"{approval_type} is never approved automatically here (HITL_AUTO_APPROVE_TYPES)"
    if threshold is None:
        return "no auto_approve_threshold given"
    if required_approvers > 1:
        return f"{required_approvers} approvers are required, so people must decide"
    if risk_level == "critical":
        return "critical risk always needs a person"
    if missing_report:
        return (
            "generated_code came without a readable security report (SARIF, bandit, semgrep or "
            "code_analysis output)"
        )
    if incomplete:
        return "the security report says its analysis was incomplete (errors, failed runs)"
    if severe:
        return f"the security report has {severe} critical/high finding(s)"
    if unknown:
        return f"the security report has {unknown} finding(s) of unknown severity"
    return None
