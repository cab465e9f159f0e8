"""Run the analysers on one input, merge their findings and build the result."""

from __future__ import annotations

import ast
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from mcp_servers.code_analysis import (
    _language,
    _merge,
    _patterns,
    _quality,
    _report,
    _taint,
    _worker,
)
from mcp_servers.code_analysis._bandit import BanditRunner
from mcp_servers.code_analysis._findings import AnalyserOutput, AnalyserRun, Finding, SinkCheck
from mcp_servers.code_analysis._models import AnalysisResult
from mcp_servers.code_analysis._pyast import ModuleIndex
from mcp_servers.code_analysis._ruff import RuffRunner
from mcp_servers.code_analysis._secrets import SecretsRunner
from mcp_servers.code_analysis._settings import CodeAnalysisSettings
from mcp_servers.code_analysis.errors import InvalidInputError
from promptcraft import pyast

ANALYSIS_TYPES = ("security", "performance", "architecture", "general")
THRESHOLDS = ("low", "medium", "high", "critical")
_NOSEC = re.compile(r"#\s*nosec\b:?\s*(?P<tests>[^#]*)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Request:
    code: str
    file_path: str = ""
    language: str = ""
    analysis_type: str = "general"
    focus_areas: tuple[str, ...] = ()
    severity_threshold: str = "medium"
    max_suggestions: int = 5
    include_examples: bool = True


@dataclass
class RawAnalysis:
    """Everything the analysers said about one input, merged, before filtering for a view."""

    language: str
    language_source: str
    findings: list[Finding]
    checks: list[SinkCheck]
    runs: list[AnalyserRun]
    metrics: _quality.Metrics
    parsed: bool
    parse_error: str = ""
    notes: list[str] = field(default_factory=list)
    tree: ast.Module | None = None


class Analyzer:
    """Holds the warm analysers (bandit's rule set, detect-secrets' plugins) between calls."""

    def __init__(
        self, settings: CodeAnalysisSettings, *, bandit_worker: bool | None = None
    ) -> None:
        self.settings = settings
        self.bandit_worker = settings.bandit_worker if bandit_worker is None else bandit_worker
        self.bandit = BanditRunner()
        self.ruff = RuffRunner(settings.ruff_path, settings.analyser_timeout_seconds)
        self.secrets = SecretsRunner()

    def warm(self) -> None:
        if not (self.bandit_worker and _worker.start()):
            self.bandit.warm()
        self.secrets.warm()

    # ------------------------------------------------------------------ input

    def validate(self, request: Request) -> None:
        code = request.code
        if not code.strip():
            raise InvalidInputError("The code is empty: pass the source text to analyse in 'code'.")
        size = len(code.encode("utf-8", "surrogatepass"))
        limit = self.settings.max_input_bytes
        if size > limit:
            raise InvalidInputError(
                f"The code is {size} bytes, over the {limit}-byte limit: analyse one file at a time, "
                "or raise PROMPTCRAFT_CODE_ANALYSIS_MAX_INPUT_BYTES."
            )
        if (
            "\x00" in code
            or len(_CONTROL.findall(code[:65536])) > max(8, len(code[:65536]) // 100)
            or code.count("\ufffd") > max(8, len(code) // 100)
        ):
            raise InvalidInputError(
                "The input looks like binary content, not source code: send the text of a source file."
            )
        if request.analysis_type not in ANALYSIS_TYPES:
            raise InvalidInputError(
                f"analysis_type must be one of {', '.join(ANALYSIS_TYPES)}, not {request.analysis_type!r}."
            )
        if request.severity_threshold not in THRESHOLDS:
            raise InvalidInputError(
                f"severity_threshold must be one of low, medium, high, critical, not {request.severity_threshold!r}."
            )
        if request.max_suggestions < 0:
            raise InvalidInputError("max_suggestions must be 0 (no limit) or more.")

    # ------------------------------------------------------------------ analysis

    def analyze(self, request: Request) -> AnalysisResult:
        started = time.perf_counter()
        self.validate(request)
        raw = self.raw(request.code, request.file_path, request.language)
        return self.report(request, raw, [], started)

    def report(
        self, request: Request, raw: RawAnalysis, extra: list[Finding], started: float
    ) -> AnalysisResult:
        """The result for one view of ``raw`` (type, threshold, limit), with extra findings merged in."""
        if extra:
            raw.findings = _merge.merge([*raw.findings, *extra], raw.checks)
        return _report.build(request, raw, round((time.perf_counter() - started) * 1000, 2))

    def raw(
        self,
        code: str,
        file_path: str = "",
        language: str = "",
        ruff_output: AnalyserOutput | None = None,
        module_name: str = "",
    ) -> RawAnalysis:
        lang, how = _language.detect(code, file_path, language)
        if lang == "python":
            return self._python(code, file_path, how, ruff_output, module_name)
        return self._other(code, file_path, lang, how)

    def _python(
        self,
        code: str,
        file_path: str,
        how: str,
        ruff_output: AnalyserOutput | None,
        module_name: str,
    ) -> RawAnalysis:
        job = self.ruff.start(code, file_path) if ruff_output is None else None
        nosec = _nosec_lines(code)
        worker = (
            _worker.WorkerJob(
                bandit=self.bandit,
                source=code,
                filename=file_path,
                nosec=nosec,
                timeout=self.settings.analyser_timeout_seconds,
            )
            if self.bandit_worker
            else None
        )
        outputs: list[AnalyserOutput] = []
        checks: list[SinkCheck] = []
        metrics = _quality.Metrics(lines=len(code.splitlines()))
        tree: ast.Module | None = None
        parse_error = ""
        try:
            tree = pyast.parse(code, filename=file_path or "<input>")
        except SyntaxError as exc:
            parse_error = f"line {exc.lineno}: {exc.msg}"
        except (ValueError, RecursionError, MemoryError) as exc:
            parse_error = f"{type(exc).__name__}: {exc}"
        if tree is not None:
            index = ModuleIndex.build(tree)
            imports = index.imports
            outputs.append(_timed("taint", lambda: _taint.analyse(index), checks))
            outputs.append(
                _timed("patterns", lambda: (_patterns.analyse(tree, imports, file_path), []))
            )
            name = module_name or (Path(file_path).stem if file_path else "")
            outputs.append(
                _timed("quality", lambda: (_quality.quality_rules(tree, imports, name), []))
            )
            try:
                radon_output, metrics = _quality.radon_metrics(index, code)
                outputs.append(radon_output)
            except Exception as exc:  # radon's visitors are third-party code
                outputs.append(
                    AnalyserOutput(AnalyserRun("radon", "failed", f"radon failed: {exc}"))
                )
            if worker is None:
                # Last: bandit annotates the tree's nodes as it walks them.
                outputs.append(self.bandit.run(code, file_path, nosec, tree))
        else:
            message = f"could not parse the code: {parse_error}"
            for name in ("taint", "patterns", "quality", "radon", "bandit"):
                outputs.append(AnalyserOutput(AnalyserRun(name, "failed", message, parsed=False)))
        if worker is not None:
            # bandit parses for itself; on unparseable code it reports its own failure
            outputs.extend(
                o for o in worker.collect() if tree is not None or o.run.name != "bandit"
            )
        else:
            outputs.append(self.secrets.run(code, file_path))
        outputs.append(ruff_output if ruff_output is not None else self.ruff.collect(job))  # type: ignore[arg-type]
        findings = [f for out in outputs for f in out.findings]
        findings = _apply_nosec(findings, code)
        merged = _merge.merge(findings, checks)
        notes = []
        if tree is None:
            ruff_run = next(o.run for o in outputs if o.run.name == "ruff")
            if ruff_run.parsed:
                notes.append(
                    "Python's parser rejected the code but ruff parsed it (newer syntax?): only ruff's rules and the secrets scan ran."
                )
        return RawAnalysis(
            "python",
            how,
            merged,
            checks,
            [o.run for o in outputs],
            metrics,
            tree is not None,
            parse_error,
            notes,
            tree,
        )

    def _other(self, code: str, file_path: str, lang: str, how: str) -> RawAnalysis:
        outputs: list[AnalyserOutput] = []
        metrics = _quality.Metrics(lines=len(code.splitlines()))
        notes = [f"No security analyser for {lang} runs here: only hard-coded secrets are checked."]
        if lang in _language.LIZARD_LANGUAGES:
            suffix = _language.LIZARD_SUFFIX.get(lang, "")
            name = file_path if file_path.lower().endswith(suffix) else f"input{suffix}"
            lizard_output, metrics = _quality.lizard_metrics(code, name)
            outputs.append(lizard_output)
        else:
            outputs.append(
                AnalyserOutput(
                    AnalyserRun("lizard", "not_applicable", f"lizard does not read {lang}")
                )
            )
        outputs.append(self.secrets.run(code, file_path))
        for name in ("bandit", "ruff", "taint", "patterns", "radon"):
            outputs.append(
                AnalyserOutput(AnalyserRun(name, "not_applicable", f"{name} analyses Python only"))
            )
        findings = [f for out in outputs for f in out.findings]
        merged = _merge.merge(findings, [])
        return RawAnalysis(
            lang, how, merged, [], [o.run for o in outputs], metrics, False, "", notes
        )


def _timed(name: str, run: object, checks: list[SinkCheck] | None = None) -> AnalyserOutput:
    started = time.perf_counter()
    try:
        found, found_checks = run()  # type: ignore[operator]
    except RecursionError:
        return AnalyserOutput(
            AnalyserRun(name, "failed", "the code is nested too deeply to analyse", parsed=True)
        )
    if checks is not None:
        checks.extend(found_checks)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return AnalyserOutput(
        AnalyserRun(name, "ok", "", len(found), elapsed, "builtin", parsed=True), list(found)
    )


def _nosec_lines(code: str) -> dict[int, set[str]]:
    lines: dict[int, set[str]] = {}
    if "nosec" not in code:
        return lines
    for number, line in enumerate(code.splitlines(), 1):
        match = _NOSEC.search(line)
        if match:
            tests = {t for t in re.split(r"[,\s]+", match.group("tests") or "") if t}
            lines[number] = tests
    return lines


def _apply_nosec(findings: list[Finding], code: str) -> list[Finding]:
    """A bare ``# nosec`` silences every security finding on its line (bandit's convention)."""
    marks = _nosec_lines(code)
    if not marks:
        return findings
    kept = []
    for finding in findings:
        tests = marks.get(finding.line_start)
        if finding.category == "security" and tests is not None:
            code_id = finding.rule_id.split("/")[-1]
            if not tests or code_id in tests:
                continue
        kept.append(finding)
    return kept
