"""Our own finding and coverage records (analysers' results are translated into these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Category = Literal["security", "performance", "architecture", "style"]
Verdict = Literal["tainted", "unknown", "sanitized", "constant"]
RunStatus = Literal["ok", "failed", "skipped", "not_applicable"]

# Worst first: when one line is checked several times, the worst verdict wins.
VERDICT_ORDER: dict[str, int] = {"tainted": 0, "unknown": 1, "sanitized": 2, "constant": 3}


@dataclass
class Finding:
    rule_id: str
    analyser: str
    category: Category
    title: str
    message: str
    line_start: int
    line_end: int
    severity: str
    confidence: str
    cwe: int | None = None
    recommendation: str = ""
    example_fix: str = ""
    doc_url: str = ""
    steps: list[tuple[int, str]] = field(default_factory=list)
    analysers: list[str] = field(default_factory=list)
    related_rules: list[str] = field(default_factory=list)
    fixable: bool = False
    evidence: str = ""

    def __post_init__(self) -> None:
        if not self.analysers:
            self.analysers = [self.analyser]
        self.line_end = max(self.line_end, self.line_start)


@dataclass(frozen=True)
class SinkCheck:
    """The taint engine's verdict on the data reaching one sink, for demoting pattern alarms."""

    line: int
    end_line: int
    family: str
    verdict: Verdict
    detail: str = ""


@dataclass
class AnalyserRun:
    name: str
    status: RunStatus
    detail: str = ""
    findings: int = 0
    duration_ms: float = 0.0
    version: str = ""
    parsed: bool | None = None


@dataclass
class AnalyserOutput:
    run: AnalyserRun
    findings: list[Finding] = field(default_factory=list)
    checks: list[SinkCheck] = field(default_factory=list)
