"""Fixtures for the code analysis tests: one warm analyser for the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_servers.code_analysis._engine import Analyzer, Request
from mcp_servers.code_analysis._models import AnalysisResult
from mcp_servers.code_analysis._settings import CodeAnalysisSettings


@pytest.fixture(scope="session")
def analyzer() -> Iterator[Analyzer]:
    # In-process bandit: tests should not leave a worker process behind.
    engine = Analyzer(CodeAnalysisSettings(), bandit_worker=False)
    engine.warm()
    yield engine


@pytest.fixture
def analyse(analyzer: Analyzer):  # type: ignore[no-untyped-def]
    def run(code: str, file_path: str = "app.py", **options: object) -> AnalysisResult:
        options.setdefault("max_suggestions", 0)
        return analyzer.analyze(Request(code=code, file_path=file_path, **options))  # type: ignore[arg-type]

    return run
