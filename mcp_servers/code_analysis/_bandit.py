"""Bandit, in-process: its rule set is loaded once and reused for every file.

Bandit's command line spends most of its time starting up (importing and loading
plugins); running its node visitor directly on source we already hold avoids that
and avoids a temporary file.
"""

from __future__ import annotations

import ast
import io
import logging
import threading
import time
import warnings
from importlib import metadata
from typing import Any

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import AnalyserOutput, AnalyserRun, Finding

_SEVERITY = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_CONFIDENCE = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high", "UNDEFINED": "low"}
_DOCS = "https://bandit.readthedocs.io/en/latest/plugins/index.html"


class BanditRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._testset: Any = None
        self.version = metadata.version("bandit")

    def warm(self) -> None:
        """Load bandit's configuration and plugins (about half a second, once)."""
        with self._lock:
            if self._testset is None:
                # Bandit warns about every module it cannot name; we pass bare sources.
                logging.getLogger("bandit").setLevel(logging.ERROR)
                # Bandit's output formatters are loaded too; one needs sarif_om, which we do
                # not use (our SARIF is our own), and stevedore logs that at ERROR.
                logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)
                with warnings.catch_warnings():
                    # stevedore deprecation noise from bandit's plugin loader
                    warnings.simplefilter("ignore", DeprecationWarning)
                    from bandit.core import config as b_config
                    from bandit.core import test_set

                    self._testset = test_set.BanditTestSet(b_config.BanditConfig(), {})

    def run(
        self,
        source: str,
        filename: str,
        nosec_lines: dict[int, set[str]] | None = None,
        tree: ast.Module | None = None,
    ) -> AnalyserOutput:
        self.warm()
        from bandit.core import meta_ast, metrics, node_visitor

        started = time.perf_counter()
        data = source.encode("utf-8")
        visitor = node_visitor.BanditNodeVisitor(
            filename or "<input>",
            io.BytesIO(data),
            meta_ast.BanditMetaAst(),
            self._testset,
            False,
            nosec_lines or {},
            metrics.Metrics(),
        )
        try:
            if tree is None:
                visitor.process(data)
            else:
                # BanditNodeVisitor.process() without its own ast.parse: we parsed already.
                visitor.generic_visit(tree)
                visitor.context = {
                    "file_data": visitor.fdata,
                    "filename": visitor.fname,
                    "lineno": 0,
                    "linerange": [0, 1],
                    "col_offset": 0,
                }
                visitor.update_scores(visitor.tester.run_tests(visitor.context, "File"))
        except SyntaxError as exc:
            return AnalyserOutput(
                AnalyserRun(
                    "bandit",
                    "failed",
                    f"could not parse the code: {exc.msg} (line {exc.lineno})",
                    duration_ms=_ms(started),
                    version=self.version,
                    parsed=False,
                )
            )
        findings = [self._translate(issue) for issue in visitor.tester.results]
        run = AnalyserRun(
            "bandit", "ok", "", len(findings), _ms(started), self.version, parsed=True
        )
        return AnalyserOutput(run, findings)

    @staticmethod
    def _translate(issue: Any) -> Finding:
        test_id: str = issue.test_id
        cwe = _cwe.BANDIT_CWE.get(test_id) or (issue.cwe.id or None)
        lines = list(issue.linerange) or [issue.lineno]
        info = _cwe.info(cwe)
        slug = str(issue.test).replace("_", "-")
        return Finding(
            rule_id=f"bandit/{test_id}",
            analyser="bandit",
            category="security",
            title=f"{test_id} {issue.test}",
            message=str(issue.text),
            line_start=int(issue.lineno),
            line_end=max(int(issue.lineno), int(max(lines))),
            severity=_SEVERITY.get(issue.severity, "medium"),
            confidence=_CONFIDENCE.get(issue.confidence, "medium"),
            cwe=cwe,
            recommendation=info.recommendation if info else "",
            example_fix=info.example_fix if info else "",
            doc_url=f"https://bandit.readthedocs.io/en/latest/search.html?q={slug}"
            if slug
            else _DOCS,
            evidence="pattern",
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
