"""The documented risk score behind ``auto_approve_threshold``.

score = clamp(0, 100,
    HITL_RISK_SCORES[risk_level]            (low 10, medium 40, high 70, critical 95)
  + HITL_TYPE_ADJUSTMENTS[approval_type]     (code_deployment +10, security_override +20,
                                              data_access +10, external_api +5)
  + findings in context.security_report      (critical/high +10 each, medium +5,
                                              low +1, unknown severity +5))

Findings are read from the report's ``issues``, ``findings``, ``results`` or
``vulnerabilities`` list, each item's ``severity``, ``issue_severity`` or ``level``.

A request is approved automatically only when all of these hold:
- it names an ``auto_approve_threshold``;
- the score is at or below min(threshold, HITL_AUTO_APPROVE_MAX_THRESHOLD), so an
  agent cannot auto-approve risky work by asking for a high threshold;
- risk_level is not ``critical``, approval_type is not ``security_override``, and the
  security report has no critical or high finding (these always need a person).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from promptcraft.store import JSONObject, JSONValue

_REPORT_LISTS = ("issues", "findings", "results", "vulnerabilities")
_SEVERITY_KEYS = ("severity", "issue_severity", "level")
_POINTS = {"critical": 10, "high": 10, "error": 10, "medium": 5, "warning": 5, "low": 1, "info": 0}
_UNKNOWN_POINTS = 5
_SEVERE = frozenset({"critical", "high", "error"})


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    score: int
    effective_threshold: int | None
    auto_approve: bool
    reason: str
    severe_findings: int
    findings: int


def _findings(report: JSONValue) -> list[str]:
    if not isinstance(report, dict):
        return []
    severities: list[str] = []
    for key in _REPORT_LISTS:
        items = report.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            severity = ""
            if isinstance(item, dict):
                for skey in _SEVERITY_KEYS:
                    value = item.get(skey)
                    if isinstance(value, str):
                        severity = value.lower()
                        break
            severities.append(severity)
    return severities


def assess(
    settings: HumanInLoopSettings,
    approval_type: str,
    context: JSONObject,
    threshold: int | None,
) -> RiskAssessment:
    risk_level = str(context.get("risk_level", "critical"))
    base = settings.risk_scores.get(risk_level, settings.risk_scores["critical"])
    adjust = settings.type_adjustments.get(approval_type, 0)
    severities = _findings(context.get("security_report"))
    points = sum(_POINTS.get(s, _UNKNOWN_POINTS) for s in severities)
    severe = sum(1 for s in severities if s in _SEVERE)
    score = max(0, min(100, base + adjust + points))

    if threshold is None:
        return RiskAssessment(
            score, None, False, "no auto_approve_threshold given", severe, len(severities)
        )
    effective = min(threshold, settings.auto_approve_max_threshold)
    if settings.auto_approve_max_threshold == 0:
        reason = "auto-approval is off on this server (HITL_AUTO_APPROVE_MAX_THRESHOLD=0)"
    elif risk_level == "critical":
        reason = "critical risk always needs a person"
    elif approval_type == "security_override":
        reason = "security overrides always need a person"
    elif severe:
        reason = f"the security report has {severe} critical/high finding(s)"
    elif score > effective:
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
