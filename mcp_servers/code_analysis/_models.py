"""The tool's result, shaped for section 1.2's ``data`` (plus coverage and timing)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["low", "medium", "high", "critical"]
Confidence = Literal["low", "medium", "high"]
SuggestionType = Literal["security", "performance", "style", "architecture"]


class TaintStep(BaseModel):
    line: int
    note: str


class Suggestion(BaseModel):
    id: str = Field(description="Stable UUID (derived from file, rule and lines).")
    type: SuggestionType
    severity: Severity
    confidence: Confidence
    line_start: int
    line_end: int
    title: str
    description: str
    recommendation: str
    example_fix: str | None = None
    references: list[str] = Field(description="CWE, OWASP Top 10 and rule documentation links.")
    rule_id: str = Field(
        description="Leading rule, e.g. taint/sql-injection, bandit/B602, ruff/PERF401."
    )
    cwe: str | None = Field(default=None, description="e.g. CWE-89")
    analysers: list[str] = Field(description="Every analyser that reported this problem.")
    related_rules: list[str] = Field(default_factory=list)
    autofixable: bool = Field(default=False, description="ruff can fix it (ruff check --fix).")


class Vulnerability(BaseModel):
    id: str
    rule_id: str
    cwe: str | None
    cwe_name: str | None
    owasp: str | None = Field(description="OWASP Top 10 (2021) category, e.g. A03:2021-Injection.")
    severity: Severity
    confidence: Confidence
    line_start: int
    line_end: int
    title: str
    description: str
    analysers: list[str]
    taint_path: list[TaintStep] = Field(
        default_factory=list, description="Source to sink, when data flow was traced."
    )


class ComplianceEntry(BaseModel):
    name: str
    status: Literal["pass", "fail", "not_assessed"]
    findings: int
    cwes: list[str]


class SecurityAnalysis(BaseModel):
    overall_score: int = Field(ge=0, le=100)
    score_formula: str
    vulnerabilities: list[Vulnerability]
    compliance_status: dict[str, ComplianceEntry] = Field(
        description="Per OWASP Top 10 (2021) category A01..A10."
    )


class ExecutableAction(BaseModel):
    id: str
    title: str
    description: str
    estimated_duration: str
    requires_approval: bool
    kind: Literal["apply_fix", "autofix", "refactor", "review"]
    suggestion_ids: list[str] = Field(default_factory=list)


class AnalyserStatus(BaseModel):
    name: str
    version: str
    status: Literal["ok", "failed", "skipped", "not_applicable"]
    detail: str = Field(description="Why it failed or was skipped, e.g. the parser's message.")
    findings: int
    duration_ms: float


class Coverage(BaseModel):
    language: str
    language_source: Literal["argument", "extension", "content"]
    parsed: bool = Field(
        description="Whether the code could be parsed for the deep (AST, taint) analysis."
    )
    complete: bool = Field(description="Every analyser that applies to the language ran.")
    analysers: list[AnalyserStatus]
    notes: list[str] = Field(default_factory=list)


class CodeMetrics(BaseModel):
    lines: int
    code_lines: int
    functions: int
    classes: int
    maintainability_index: float | None = None
    maintainability_rank: str | None = None
    average_complexity: float | None = None
    max_complexity: int | None = None


class AnalysisResult(BaseModel):
    analysis_summary: str
    primary_agent: str = "code_analysis"
    confidence_score: float = Field(
        ge=0, le=1, description="Share of the applicable analysers that parsed and ran."
    )
    file_path: str
    language: str
    analysis_type: Literal["security", "performance", "architecture", "general"]
    suggestions: list[Suggestion]
    security_analysis: SecurityAnalysis
    executable_actions: list[ExecutableAction]
    coverage: Coverage
    metrics: CodeMetrics
    total_findings: int = Field(
        description="Findings at or above the severity threshold, before max_suggestions."
    )
    suppressed_below_threshold: int
    processing_time_ms: float
