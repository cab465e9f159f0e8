"""Ruff, as a subprocess: lint, flake8-bandit (S), performance (PERF) and async rules.

Ruff is a native binary and parses newer Python syntax than this interpreter, so it
still reports when ``ast.parse`` cannot. One process can check many files at once
(the command-line entry uses that); for one snippet the source goes on stdin.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import AnalyserOutput, AnalyserRun, Category, Finding

# F: pyflakes, E9: syntax errors, B: bugbear, S: bandit, PERF: perflint, ASYNC: blocking
# calls in async code, PLR1714/PLW: a few pylint checks, C90: mccabe, SIM: simplifications.
RULES = "F,E9,B,S,PERF,ASYNC,PLW,C901,SIM,UP,RUF"
_SECURITY_SEVERITY = {
    "S102": "high",
    "S301": "medium",
    "S307": "medium",
    "S501": "high",
    "S506": "medium",
    "S602": "high",
    "S605": "high",
    "S608": "medium",
    "S701": "high",
}


def find_ruff(configured: str = "") -> str:
    if configured:
        return configured
    from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

    return str(find_ruff_bin())


@dataclass(frozen=True)
class RuffJob:
    """A ruff process started for one input, collected later (runs beside our analysers)."""

    process: subprocess.Popen[bytes] | None
    started: float
    error: str = ""


class RuffRunner:
    def __init__(self, binary: str = "", timeout: float = 30.0) -> None:
        self.binary = binary
        self.timeout = timeout
        try:
            self.version = metadata.version("ruff")
        except metadata.PackageNotFoundError:
            self.version = ""

    def _command(self, extra: Sequence[str]) -> list[str]:
        binary = find_ruff(self.binary)
        return [
            binary,
            "check",
            "--isolated",
            "--no-cache",
            "--exit-zero",
            "--output-format",
            "json",
            "--target-version",
            "py313",
            "--select",
            RULES,
            *extra,
        ]

    def start(self, source: str, filename: str) -> RuffJob:
        started = time.perf_counter()
        name = Path(filename).name if filename else "input.py"
        if not name.endswith((".py", ".pyi")):
            name = f"{name}.py"
        try:
            proc = subprocess.Popen(  # noqa: S603 (ruff's own binary, fixed arguments)
                self._command(["--stdin-filename", name, "-"]),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "NO_COLOR": "1"},
            )
        except OSError as exc:
            return RuffJob(None, started, f"could not start ruff: {exc}")
        assert proc.stdin is not None
        try:
            proc.stdin.write(source.encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        # Ruff reads all of stdin before it writes; communicate() must not touch stdin again.
        proc.stdin = None
        return RuffJob(proc, started)

    def collect(self, job: RuffJob) -> AnalyserOutput:
        if job.process is None:
            return AnalyserOutput(AnalyserRun("ruff", "failed", job.error, version=self.version))
        try:
            out, err = job.process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.communicate()
            return AnalyserOutput(
                AnalyserRun(
                    "ruff",
                    "failed",
                    f"ruff did not finish within {self.timeout:g}s (PROMPTCRAFT_CODE_ANALYSIS_ANALYSER_TIMEOUT_SECONDS)",
                    duration_ms=_ms(job.started),
                    version=self.version,
                )
            )
        if job.process.returncode not in (0, 1):
            detail = (
                err.decode("utf-8", "replace").strip()[:300]
                or f"exit code {job.process.returncode}"
            )
            return AnalyserOutput(
                AnalyserRun(
                    "ruff", "failed", detail, duration_ms=_ms(job.started), version=self.version
                )
            )
        return self.parse(out, job.started)

    def run(self, source: str, filename: str) -> AnalyserOutput:
        return self.collect(self.start(source, filename))

    def run_paths(self, paths: Sequence[Path]) -> dict[str, AnalyserOutput]:
        """One ruff process for many files; results keyed by resolved path."""
        started = time.perf_counter()
        results: dict[str, AnalyserOutput] = {}
        if not paths:
            return results
        try:
            proc = subprocess.run(  # noqa: S603 (ruff's own binary, fixed arguments)
                self._command([str(p) for p in paths]),
                capture_output=True,
                timeout=max(self.timeout, 2.0 * len(paths) / 50 + self.timeout),
                check=False,
                env={**os.environ, "NO_COLOR": "1"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            failed = AnalyserRun("ruff", "failed", f"ruff did not run: {exc}", version=self.version)
            return {str(p.resolve()): AnalyserOutput(failed) for p in paths}
        items = _load(proc.stdout)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            grouped.setdefault(str(Path(item.get("filename", "")).resolve()), []).append(item)
        elapsed = _ms(started) / max(1, len(paths))
        for path in paths:
            key = str(path.resolve())
            results[key] = self._from_items(grouped.get(key, []), elapsed)
        return results

    def parse(self, out: bytes, started: float) -> AnalyserOutput:
        return self._from_items(_load(out), _ms(started))

    def _from_items(self, items: list[dict[str, Any]], duration: float) -> AnalyserOutput:
        findings: list[Finding] = []
        syntax: list[str] = []
        for item in items:
            code = item.get("code") or "invalid-syntax"
            row = int(item.get("location", {}).get("row", 1))
            end = int(item.get("end_location", {}).get("row", row))
            message = str(item.get("message", ""))
            if code == "invalid-syntax" or code.startswith("E9"):
                syntax.append(f"line {row}: {message}")
                continue
            findings.append(_finding(code, message, row, end, item))
        if syntax:
            run = AnalyserRun(
                "ruff",
                "ok",
                "syntax errors: " + "; ".join(syntax[:3]),
                len(findings),
                duration,
                self.version,
                parsed=False,
            )
        else:
            run = AnalyserRun("ruff", "ok", "", len(findings), duration, self.version, parsed=True)
        return AnalyserOutput(run, findings)


def _finding(code: str, message: str, row: int, end: int, item: dict[str, Any]) -> Finding:
    category: Category
    cwe: int | None = None
    if code.startswith("S"):
        category = "security"
        cwe = _cwe.RUFF_CWE.get(code)
        severity = _SECURITY_SEVERITY.get(
            code, "medium" if cwe in (78, 89, 95, 502, 295) else "low"
        )
    elif code.startswith(("PERF", "ASYNC")):
        category = "performance"
        severity = "medium" if code.startswith("ASYNC") or code == "PERF203" else "low"
    elif code.startswith("C90"):
        category = "architecture"
        severity = "low"
    elif code.startswith(("F8", "F6", "F7", "B0", "PLW")) and code not in ("F841", "F811"):
        category = "style"
        severity = "medium" if code.startswith(("F82", "F63", "F7")) else "low"
    else:
        category = "style"
        severity = "low"
    info = _cwe.info(cwe)
    fix = item.get("fix") or {}
    return Finding(
        rule_id=f"ruff/{code}",
        analyser="ruff",
        category=category,
        title=f"{code} {item.get('name', '')}".strip(),
        message=message,
        line_start=row,
        line_end=max(row, end),
        severity=severity,
        confidence="medium" if category == "security" else "high",
        cwe=cwe,
        recommendation=(info.recommendation if info else "") or (fix.get("message") or message),
        example_fix=info.example_fix if info else "",
        doc_url=str(item.get("url") or ""),
        fixable=bool(fix),
        evidence="pattern",
    )


def _load(out: bytes) -> list[dict[str, Any]]:
    text = out.decode("utf-8", "replace").strip()
    if not text:
        return []
    data = json.loads(text)
    return data if isinstance(data, list) else []


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
