"""Turn merged findings into the tool's result: suggestions, score, compliance, actions."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import TYPE_CHECKING

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import Finding
from mcp_servers.code_analysis._models import (
    AnalyserStatus,
    AnalysisResult,
    CodeMetrics,
    ComplianceEntry,
    Coverage,
    ExecutableAction,
    SecurityAnalysis,
    Suggestion,
    TaintStep,
    Vulnerability,
)

if TYPE_CHECKING:
    from mcp_servers.code_analysis._engine import RawAnalysis, Request

SEVERITY_WEIGHT = {"critical": 25, "high": 12, "medium": 5, "low": 1}
CONFIDENCE_FACTOR = {"high": 1.0, "medium": 0.75, "low": 0.5}
SCORE_FORMULA = (
    "100 - sum(weight[severity] * factor[confidence]) over every security finding in the file, "
    "whatever the threshold; weight critical 25, high 12, medium 5, low 1 (low findings count "
    "at most 10 in total); factor high 1.0, medium 0.75, low 0.5; floored at 0. Capped at 50 when "
    "the code could not be parsed for the deep analysis, at 70 when no security analyser exists "
    "for the language, and at 90 when any applicable analyser failed: unknown is not safe."
)
_NAMESPACE = uuid.UUID("3f1c9a52-8d2e-4b7a-9c61-0d5e2f8a7b34")
_TYPE_FOR = {
    "security": {"security"},
    "performance": {"performance"},
    "architecture": {"architecture"},
    "general": {"security", "performance", "architecture", "style"},
}
_CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


def stable_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def cwe_label(cwe: int | None) -> str | None:
    return f"CWE-{cwe}" if cwe else None


def owasp_label(cwe: int | None) -> str | None:
    code = _cwe.owasp_of(cwe)
    if not code:
        return None
    return f"{code}:2021-{_cwe.OWASP_2021[code][0]}"


def _focus_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _matches_focus(finding: Finding, focus: tuple[str, ...]) -> bool:
    """A focus area names a CWE ("CWE-89"), a category, a family or words of a title."""
    if not focus:
        return False
    info = _cwe.info(finding.cwe)
    words = " ".join(
        [
            finding.category,
            _cwe.family(finding.cwe),
            finding.rule_id,
            finding.title,
            info.name if info else "",
        ]
    )
    haystack = _focus_key(words)
    for area in focus:
        key = _focus_key(area)
        if not key:
            continue
        if re.fullmatch(r"(cwe)?\d+", key):
            if finding.cwe is not None and key.removeprefix("cwe") == str(finding.cwe):
                return True
            continue
        if key in haystack or (
            key.endswith("injection") and key.removesuffix("injection") in haystack
        ):
            return True
    return False


def score(findings: list[Finding], raw: RawAnalysis) -> int:
    penalty = 0.0
    low = 0.0
    for finding in findings:
        if finding.category != "security":
            continue
        value = SEVERITY_WEIGHT[finding.severity] * CONFIDENCE_FACTOR[finding.confidence]
        if finding.severity == "low":
            low += value
        else:
            penalty += value
    total = max(0, round(100 - penalty - min(low, 10.0)))
    security_runs = [
        r for r in raw.runs if r.name in ("bandit", "taint", "patterns", "ruff", "detect-secrets")
    ]
    if not raw.parsed and raw.language == "python":
        total = min(total, 50)
    elif raw.language != "python":
        total = min(total, 70)
    elif any(r.status == "failed" for r in security_runs):
        total = min(total, 90)
    return total


def _description(finding: Finding) -> str:
    text = finding.message
    if finding.steps:
        path = " -> ".join(f"line {line}: {note}" for line, note in finding.steps)
        text = f"{text} Data flow: {path}."
    if len(finding.analysers) > 1:
        text = f"{text} Reported by {', '.join(finding.analysers)}."
    return text


def _suggestion(finding: Finding, request: Request) -> Suggestion:
    return Suggestion(
        id=stable_id(request.file_path, finding.rule_id, finding.line_start, finding.line_end),
        type=finding.category,
        severity=finding.severity,  # type: ignore[arg-type]
        confidence=finding.confidence,  # type: ignore[arg-type]
        line_start=finding.line_start,
        line_end=finding.line_end,
        title=finding.title,
        description=_description(finding),
        recommendation=finding.recommendation or "Review this code.",
        example_fix=(finding.example_fix or None) if request.include_examples else None,
        references=_cwe.references(finding.cwe, (finding.doc_url,)),
        rule_id=finding.rule_id,
        cwe=cwe_label(finding.cwe),
        analysers=list(finding.analysers),
        related_rules=list(finding.related_rules),
        autofixable=finding.fixable,
    )


def _vulnerability(finding: Finding, request: Request) -> Vulnerability:
    info = _cwe.info(finding.cwe)
    return Vulnerability(
        id=stable_id(request.file_path, finding.rule_id, finding.line_start, finding.line_end),
        rule_id=finding.rule_id,
        cwe=cwe_label(finding.cwe),
        cwe_name=info.name if info else None,
        owasp=owasp_label(finding.cwe),
        severity=finding.severity,  # type: ignore[arg-type]
        confidence=finding.confidence,  # type: ignore[arg-type]
        line_start=finding.line_start,
        line_end=finding.line_end,
        title=finding.title,
        description=_description(finding),
        analysers=list(finding.analysers),
        taint_path=[TaintStep(line=line, note=note) for line, note in finding.steps],
    )


def _compliance(vulnerabilities: list[Finding], raw: RawAnalysis) -> dict[str, ComplianceEntry]:
    assessed = raw.parsed and raw.language == "python"
    out: dict[str, ComplianceEntry] = {}
    for code, (name, _url) in _cwe.OWASP_2021.items():
        mine = [v for v in vulnerabilities if _cwe.owasp_of(v.cwe) == code]
        if mine:
            status = "fail"
        elif code in _cwe.NOT_ASSESSED or not assessed:
            status = "not_assessed"
        else:
            status = "pass"
        out[code] = ComplianceEntry(
            name=name,
            status=status,  # type: ignore[arg-type]
            findings=len(mine),
            cwes=sorted({f"CWE-{v.cwe}" for v in mine if v.cwe}),
        )
    return out


def _actions(
    suggestions: list[Suggestion], all_findings: list[Finding], raw: RawAnalysis
) -> list[ExecutableAction]:
    actions: list[ExecutableAction] = []
    if not raw.parsed and raw.language == "python" and raw.parse_error:
        actions.append(
            ExecutableAction(
                id=stable_id("action", "parse", raw.parse_error),
                title="Fix the syntax error so every analyser can run",
                description=f"Python's parser stopped at {raw.parse_error}; bandit, the taint analysis and radon did not run.",
                estimated_duration="5 minutes",
                requires_approval=False,
                kind="review",
            )
        )
    for suggestion in suggestions:
        if suggestion.type == "security" and suggestion.severity in ("critical", "high", "medium"):
            minutes = {
                "critical": "15-30 minutes",
                "high": "10-20 minutes",
                "medium": "5-15 minutes",
            }[suggestion.severity]
            actions.append(
                ExecutableAction(
                    id=stable_id("action", suggestion.id),
                    title=f"Fix: {suggestion.title} (line {suggestion.line_start})",
                    description=suggestion.recommendation,
                    estimated_duration=minutes,
                    requires_approval=True,
                    kind="apply_fix",
                    suggestion_ids=[suggestion.id],
                )
            )
        elif suggestion.type in ("architecture", "performance") and suggestion.severity != "low":
            actions.append(
                ExecutableAction(
                    id=stable_id("action", suggestion.id),
                    title=f"Refactor: {suggestion.title}",
                    description=suggestion.recommendation,
                    estimated_duration="30-60 minutes"
                    if suggestion.type == "architecture"
                    else "10-30 minutes",
                    requires_approval=True,
                    kind="refactor",
                    suggestion_ids=[suggestion.id],
                )
            )
    fixable = [f for f in all_findings if f.fixable]
    if fixable:
        actions.append(
            ExecutableAction(
                id=stable_id("action", "ruff-fix", len(fixable)),
                title=f"Apply ruff's automatic fixes ({len(fixable)} findings)",
                description="Run `ruff check --fix` on the file; the fixes are mechanical and safe.",
                estimated_duration="1 minute",
                requires_approval=False,
                kind="autofix",
            )
        )
    return actions[:8]


def _summary(raw: RawAnalysis, shown: list[Finding], total_score: int, request: Request) -> str:
    counts = Counter(f.category for f in shown)
    severities = Counter(f.severity for f in shown if f.category == "security")
    parts = []
    if counts.get("security"):
        detail = ", ".join(
            f"{severities[s]} {s}" for s in ("critical", "high", "medium", "low") if severities[s]
        )
        parts.append(f"{counts['security']} security ({detail})")
    for category in ("performance", "architecture", "style"):
        if counts.get(category):
            parts.append(f"{counts[category]} {category}")
    found = "; ".join(parts) if parts else "no findings"
    lines = raw.metrics.lines
    text = (
        f"{raw.language}, {lines} lines, {request.analysis_type} analysis: {found} at or above "
        f"'{request.severity_threshold}'. Security score {total_score}/100."
    )
    failed = [r for r in raw.runs if r.status == "failed"]
    if failed:
        text += f" Not analysed by {', '.join(r.name for r in failed)}: {failed[0].detail}."
    return text


def build(request: Request, raw: RawAnalysis, elapsed_ms: float) -> AnalysisResult:
    threshold = _cwe.SEVERITY_RANK[request.severity_threshold]
    types = _TYPE_FOR[request.analysis_type]
    visible = [f for f in raw.findings if f.category in types]
    shown = [f for f in visible if _cwe.SEVERITY_RANK[f.severity] >= threshold]
    suppressed = len(visible) - len(shown)
    shown.sort(
        key=lambda f: (
            not _matches_focus(f, request.focus_areas),
            -_cwe.SEVERITY_RANK[f.severity],
            -_CONFIDENCE_RANK[f.confidence],
            f.line_start,
            f.rule_id,
        )
    )
    limited = shown[: request.max_suggestions] if request.max_suggestions else shown
    suggestions = [_suggestion(f, request) for f in limited]
    security = [f for f in raw.findings if f.category == "security"]
    vulnerabilities = [f for f in security if _cwe.SEVERITY_RANK[f.severity] >= threshold]
    vulnerabilities.sort(key=lambda f: (-_cwe.SEVERITY_RANK[f.severity], f.line_start))
    total_score = score(raw.findings, raw)
    applicable = [r for r in raw.runs if r.status != "not_applicable"]
    good = [r for r in applicable if r.status == "ok" and r.parsed is not False]
    coverage = Coverage(
        language=raw.language,
        language_source=raw.language_source,  # type: ignore[arg-type]
        parsed=raw.parsed,
        complete=len(good) == len(applicable) and raw.language == "python",
        analysers=[
            AnalyserStatus(
                name=r.name,
                version=r.version,
                status=r.status,
                detail=r.detail,
                findings=r.findings,
                duration_ms=r.duration_ms,
            )
            for r in raw.runs
        ],
        notes=raw.notes,
    )
    m = raw.metrics
    return AnalysisResult(
        analysis_summary=_summary(raw, shown, total_score, request),
        confidence_score=round(len(good) / len(applicable), 2) if applicable else 0.0,
        file_path=request.file_path,
        language=raw.language,
        analysis_type=request.analysis_type,  # type: ignore[arg-type]
        suggestions=suggestions,
        security_analysis=SecurityAnalysis(
            overall_score=total_score,
            score_formula=SCORE_FORMULA,
            vulnerabilities=[_vulnerability(f, request) for f in vulnerabilities],
            compliance_status=_compliance(vulnerabilities, raw),
        ),
        executable_actions=_actions(suggestions, raw.findings, raw),
        coverage=coverage,
        metrics=CodeMetrics(
            lines=m.lines,
            code_lines=m.code_lines,
            functions=m.functions,
            classes=m.classes,
            maintainability_index=m.maintainability_index,
            maintainability_rank=m.maintainability_rank,
            average_complexity=m.average_complexity,
            max_complexity=m.max_complexity,
        ),
        total_findings=len(shown),
        suppressed_below_threshold=suppressed,
        processing_time_ms=elapsed_ms,
    )
