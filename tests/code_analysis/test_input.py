"""Inputs the analysis refuses, and code it cannot fully read."""

from __future__ import annotations

import pytest

from mcp_servers.code_analysis._engine import Analyzer, Request
from mcp_servers.code_analysis._settings import CodeAnalysisSettings
from mcp_servers.code_analysis.errors import InvalidInputError


@pytest.mark.parametrize("code", ["", "   \n\t\n"])
def test_empty_input_is_refused_with_a_message_naming_the_field(
    analyzer: Analyzer, code: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"empty.*'code'"):
        analyzer.analyze(Request(code=code))


def test_binary_content_is_refused(analyzer: Analyzer) -> None:
    blob = bytes(range(256)).decode("latin-1") * 4
    with pytest.raises(InvalidInputError, match="binary"):
        analyzer.analyze(Request(code=blob))


def test_input_over_the_configured_limit_is_refused_naming_the_setting() -> None:
    small = Analyzer(CodeAnalysisSettings(max_input_bytes=1000), bandit_worker=False)
    with pytest.raises(InvalidInputError, match="PROMPTCRAFT_CODE_ANALYSIS_MAX_INPUT_BYTES"):
        small.analyze(Request(code="x = 1\n" * 200))


def test_the_default_limit_is_one_mebibyte() -> None:
    assert CodeAnalysisSettings().max_input_bytes == 1024 * 1024


def test_unparseable_code_reports_the_parser_message_and_never_scores_100(analyze_broken) -> None:  # type: ignore[no-untyped-def]
    result = analyze_broken("def broken(:\n    return 1\n")
    coverage = {a.name: a for a in result.coverage.analysers}
    assert result.coverage.parsed is False
    assert coverage["bandit"].status == "failed"
    assert "line 1" in coverage["bandit"].detail and "could not parse" in coverage["bandit"].detail
    assert coverage["taint"].status == "failed"
    assert "syntax errors: line 1" in coverage["ruff"].detail
    assert result.security_analysis.overall_score <= 50
    assert result.security_analysis.compliance_status["A03"].status == "not_assessed"
    assert any(a.kind == "review" for a in result.executable_actions)


def test_newer_syntax_is_still_linted_by_ruff_and_the_gap_is_reported(analyze_broken) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import os\n\n\ndef run[T](cmd: T) -> T:\n    os.system('ls ' + str(cmd))\n    return cmd\n"
    )
    result = analyze_broken(code)
    ruff = next(a for a in result.coverage.analysers if a.name == "ruff")
    assert ruff.status == "ok" and ruff.detail == ""
    assert any("ruff parsed it" in note for note in result.coverage.notes)
    assert any(s.rule_id == "ruff/S605" and s.line_start == 5 for s in result.suggestions)
    assert result.security_analysis.overall_score <= 50


@pytest.fixture
def analyze_broken(analyzer: Analyzer):  # type: ignore[no-untyped-def]
    def run(code: str):  # type: ignore[no-untyped-def]
        return analyzer.analyze(
            Request(code=code, file_path="broken.py", max_suggestions=0, severity_threshold="low")
        )

    return run


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("analysis_type", "style", "analysis_type must be one of"),
        ("severity_threshold", "extreme", "severity_threshold must be one of"),
        ("max_suggestions", -1, "max_suggestions"),
    ],
)
def test_bad_options_are_refused_with_the_allowed_values(
    analyzer: Analyzer, field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        analyzer.analyze(Request(code="x = 1\n", **{field: value}))  # type: ignore[arg-type]
