"""Merge what the analysers found into one finding per problem, with severity from the evidence.

1. Correct and demote pattern alarms with the taint engine's verdicts: a ``shell=True``
   alarm whose command is quoted, a ``yaml.load`` with SafeLoader, an ``eval`` of a
   constant become low-severity notes; where the engine could not tell where the data
   comes from (a helper's parameter) the alarm stands with lower confidence.
2. Group findings of one CWE family whose lines overlap (or lie on a confirmed taint
   path) into one, led by the strongest evidence: taint flow, then our context rules,
   then bandit, detect-secrets and ruff. Agreement between analysers raises confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import VERDICT_ORDER, Finding, SinkCheck

_PRIORITY = {"taint": 0, "patterns": 1, "bandit": 2, "detect-secrets": 3, "ruff": 4}
# Families whose alarms depend on where the data comes from.
_DATA_FAMILIES = frozenset(
    {
        "sql",
        "command",
        "code",
        "path",
        "redirect",
        "ssrf",
        "xml",
        "deserialization",
        "ldap",
        "xpath",
        "xss",
        "regex",
        "trust",
    }
)
# Heuristics that guess from a variable *name*; our credential rule and detect-secrets
# look at the value, so an unconfirmed name-only guess is a note.
_NAME_ONLY_CREDENTIAL = frozenset({"B105", "B106", "B107", "S105", "S106", "S107"})
_CONFIDENCE_UP = {"low": "medium", "medium": "high", "high": "high"}


@dataclass
class _Group:
    primary: Finding
    members: list[Finding] = field(default_factory=list)

    @property
    def family(self) -> str:
        return family_of(self.primary)


def family_of(finding: Finding) -> str:
    if finding.category == "security":
        return _cwe.family(finding.cwe)
    rule = finding.rule_id.split("/")[-1]
    if rule in ("C901", "complexity"):
        return "arch:complexity"
    return f"{finding.category}:{rule}"


def _verdict(finding: Finding, checks: dict[str, list[SinkCheck]]) -> str | None:
    fam = _cwe.family(finding.cwe)
    best: str | None = None
    for check in checks.get(fam, ()):
        overlaps = check.line <= finding.line_end and finding.line_start <= check.end_line
        if overlaps and (best is None or VERDICT_ORDER[check.verdict] < VERDICT_ORDER[best]):
            best = check.verdict
    return best


def _adjust(finding: Finding, checks: dict[str, list[SinkCheck]]) -> Finding:
    """Severity and confidence of a third-party pattern alarm, given our evidence."""
    if finding.category != "security" or finding.analyser not in ("bandit", "ruff"):
        return finding
    code = finding.rule_id.split("/")[-1]
    if code[1:2] == "4" and len(code) == 4:  # B4xx/S4xx: "this module is imported"
        return replace(finding, severity="low", confidence="low")
    if code in _NAME_ONLY_CREDENTIAL:
        return replace(finding, severity="low", confidence="low")
    fam = _cwe.family(finding.cwe)
    if fam not in _DATA_FAMILIES:
        return finding
    verdict = _verdict(finding, checks)
    if verdict in ("constant", "sanitized"):
        why = (
            "constant or parameterised"
            if verdict == "constant"
            else "sanitised before it gets here"
        )
        return replace(
            finding,
            severity="low",
            confidence="low",
            message=f"{finding.message} (demoted: the data reaching this call is {why})",
        )
    if verdict == "unknown":
        # The data comes from somewhere we cannot see (a parameter of a helper nobody in
        # this file calls with request data): the alarm stands, with less certainty.
        return replace(finding, confidence="low" if finding.confidence == "low" else "medium")
    return finding


def merge(findings: list[Finding], checks: list[SinkCheck]) -> list[Finding]:
    by_family: dict[str, list[SinkCheck]] = {}
    for check in checks:
        by_family.setdefault(check.family, []).append(check)
    adjusted = [_adjust(f, by_family) for f in findings]
    ordered = sorted(
        adjusted,
        key=lambda f: (_PRIORITY.get(f.analyser, 9), -_cwe.SEVERITY_RANK[f.severity], f.line_start),
    )
    groups: list[_Group] = []
    by_group_family: dict[str, list[_Group]] = {}
    for finding in ordered:
        fam = family_of(finding)
        target = None
        for group in by_group_family.get(fam, ()):
            primary = group.primary
            overlaps = (
                finding.line_start <= primary.line_end and primary.line_start <= finding.line_end
            )
            on_path = finding.category == "security" and any(
                line == finding.line_start for line, _ in primary.steps
            )
            if overlaps or on_path:
                target = group
                break
        if target is None:
            group = _Group(finding, [finding])
            groups.append(group)
            by_group_family.setdefault(fam, []).append(group)
        else:
            target.members.append(finding)
    return [_combine(group) for group in groups]


def _combine(group: _Group) -> Finding:
    primary = group.primary
    if len(group.members) == 1:
        return primary
    analysers: list[str] = []
    related: list[str] = []
    for member in group.members:
        for name in member.analysers:
            if name not in analysers:
                analysers.append(name)
        if member.rule_id != primary.rule_id and member.rule_id not in related:
            related.append(member.rule_id)
    confidence = primary.confidence
    independent = {m.analyser for m in group.members}
    if len(independent) >= 2 and primary.severity != "low":
        confidence = _CONFIDENCE_UP[confidence]
    severity = primary.severity
    if primary.analyser in ("bandit", "ruff", "detect-secrets"):
        # Several third-party alarms: the strongest one's severity stands.
        severity = max((m.severity for m in group.members), key=lambda s: _cwe.SEVERITY_RANK[s])
    return replace(
        primary,
        analysers=analysers,
        related_rules=related,
        confidence=confidence,
        severity=severity,
        fixable=primary.fixable or any(m.fixable for m in group.members),
        doc_url=primary.doc_url or next((m.doc_url for m in group.members if m.doc_url), ""),
    )
