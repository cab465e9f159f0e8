"""Exact findings on known code: rule, lines, CWE, and how the evidence sets severity."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.code_analysis._models import AnalysisResult, Suggestion

CORPUS = Path(__file__).parent / "corpus"


def _read(relative: str) -> str:
    return (CORPUS / relative).read_text(encoding="utf-8")


def _security(result: AnalysisResult) -> list[tuple[str, int, int, str | None]]:
    return sorted(
        (s.rule_id, s.line_start, s.line_end, s.cwe)
        for s in result.suggestions
        if s.type == "security"
    )


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("cwe-089-sql-injection/flask_fstring_vuln.py", ("taint/sql-injection", 16, 16, "CWE-89")),
        (
            "cwe-089-sql-injection/flask_helper_format_vuln.py",
            ("taint/sql-injection", 10, 10, "CWE-89"),
        ),
        (
            "cwe-089-sql-injection/django_raw_percent_vuln.py",
            ("taint/sql-injection", 8, 10, "CWE-89"),
        ),
        (
            "cwe-078-command-injection/flask_os_system_ping_vuln.py",
            ("taint/command-injection", 11, 11, "CWE-78"),
        ),
        (
            "cwe-022-path-traversal/flask_open_realpath_vuln.py",
            ("taint/path-traversal", 15, 15, "CWE-22"),
        ),
        (
            "cwe-601-open-redirect/django_redirect_next_vuln.py",
            ("taint/open-redirect", 8, 8, "CWE-601"),
        ),
        (
            "cwe-090-ldap-injection/python_ldap_bind_dn_vuln.py",
            ("taint/ldap-injection", 14, 14, "CWE-90"),
        ),
        (
            "cwe-643-xpath-injection/etree_findall_author_vuln.py",
            ("taint/xpath-injection", 10, 10, "CWE-643"),
        ),
        (
            "cwe-501-trust-boundary/django_session_discount_vuln.py",
            ("taint/trust-boundary", 8, 8, "CWE-501"),
        ),
        ("cwe-918-ssrf/fastapi_httpx_avatar_vuln.py", ("taint/ssrf", 10, 10, "CWE-918")),
        (
            "cwe-611-xxe/sax_external_entities_vuln.py",
            ("pattern/xxe-sax-feature", 19, 19, "CWE-611"),
        ),
        (
            "cwe-502-deserialization/flask_yaml_load_vuln.py",
            ("taint/unsafe-deserialization", 9, 9, "CWE-502"),
        ),
        (
            "cwe-330-insecure-randomness/otp_randint_vuln.py",
            ("pattern/insecure-random", 7, 7, "CWE-330"),
        ),
        (
            "cwe-489-debug-mode/flask_app_run_debug_vuln.py",
            ("pattern/flask-debug", 12, 12, "CWE-489"),
        ),
        (
            "cwe-347-jwt-verification/pyjwt_no_verify_vuln.py",
            ("pattern/jwt-no-verify", 12, 12, "CWE-347"),
        ),
        (
            "cwe-209-error-exposure/flask_return_exception_vuln.py",
            ("taint/error-exposure", 14, 14, "CWE-209"),
        ),
    ],
)
def test_a_known_vulnerability_is_reported_with_its_rule_lines_and_cwe(
    analyse, relative: str, expected: tuple[str, int, int, str]
) -> None:  # type: ignore[no-untyped-def]
    result = analyse(_read(relative), file_path=relative, analysis_type="security")
    assert expected in _security(result)


def test_a_taint_finding_carries_the_path_from_the_request_to_the_sink(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(
        _read("cwe-089-sql-injection/flask_helper_format_vuln.py"), analysis_type="security"
    )
    vulnerability = next(
        v for v in result.security_analysis.vulnerabilities if v.rule_id == "taint/sql-injection"
    )
    lines = [step.line for step in vulnerability.taint_path]
    assert lines[0] == 16  # request.args in the route
    assert lines[-1] == 10  # execute() in the helper
    assert vulnerability.owasp == "A03:2021-Injection"
    assert vulnerability.severity == "critical"


def test_findings_of_several_analysers_on_one_line_are_merged_into_one(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(
        _read("cwe-078-command-injection/flask_shell_true_tar_vuln.py"), analysis_type="security"
    )
    at_sink = [s for s in result.suggestions if s.line_start == 13 and s.cwe == "CWE-78"]
    assert len(at_sink) == 1
    assert {"taint", "bandit", "ruff"} <= set(at_sink[0].analysers)
    assert "bandit/B602" in at_sink[0].related_rules
    assert at_sink[0].confidence == "high"


def test_a_shell_alarm_on_a_quoted_value_is_demoted_below_the_default_threshold(analyse) -> None:  # type: ignore[no-untyped-def]
    code = _read("cwe-078-command-injection/flask_shell_true_tar_safe.py")
    default = analyse(code, analysis_type="security")
    assert [s for s in default.suggestions if s.cwe == "CWE-78"] == []
    everything = analyse(code, analysis_type="security", severity_threshold="low")
    note = next(s for s in everything.suggestions if s.rule_id == "bandit/B602")
    assert note.severity == "low"
    assert "sanitised" in note.description


def test_eval_of_a_constant_is_a_low_note_while_eval_of_a_request_value_is_critical(
    analyse,
) -> None:  # type: ignore[no-untyped-def]
    constant = analyse(
        _read("cwe-094-code-injection/config_eval_constant_lookalike_safe.py"),
        severity_threshold="low",
    )
    tainted = analyse(_read("cwe-094-code-injection/flask_eval_calculator_vuln.py"))
    assert {s.severity for s in constant.suggestions if s.cwe == "CWE-95"} == {"low"}
    assert any(s.severity == "critical" and s.cwe == "CWE-95" for s in tainted.suggestions)


def test_bandits_cwe_for_eval_and_jinja_autoescape_is_corrected(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(_read("cwe-079-xss/jinja_autoescape_off_vuln.py"), analysis_type="security")
    finding = next(s for s in result.suggestions if s.line_start == 5)
    assert finding.cwe == "CWE-79"  # bandit reports B701 as CWE-94
    assert "bandit" in finding.analysers


def test_random_for_a_token_is_high_and_random_for_a_shuffle_is_low(analyse) -> None:  # type: ignore[no-untyped-def]
    token = analyse(
        _read("cwe-330-insecure-randomness/reset_token_random_choice_vuln.py"),
        severity_threshold="low",
    )
    quiz = analyse(
        _read("cwe-330-insecure-randomness/shuffle_quiz_lookalike_safe.py"),
        severity_threshold="low",
    )
    assert {s.severity for s in token.suggestions if s.cwe == "CWE-330"} == {"high"}
    assert {s.severity for s in quiz.suggestions if s.cwe == "CWE-330"} == {"low"}


def test_suggestions_carry_cwe_and_owasp_references_and_an_example_fix(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(_read("cwe-089-sql-injection/flask_fstring_vuln.py"))
    top: Suggestion = result.suggestions[0]
    assert top.references[0] == "https://cwe.mitre.org/data/definitions/89.html"
    assert "owasp.org/Top10/A03_2021-Injection" in top.references[1]
    assert top.example_fix and "execute" in top.example_fix
    without = analyse(_read("cwe-089-sql-injection/flask_fstring_vuln.py"), include_examples=False)
    assert without.suggestions[0].example_fix is None
    assert result.suggestions[0].id == without.suggestions[0].id  # stable ids


def test_compliance_status_fails_the_owasp_category_of_a_finding_and_passes_the_others(
    analyse,
) -> None:  # type: ignore[no-untyped-def]
    result = analyse(_read("cwe-918-ssrf/flask_requests_preview_vuln.py"), analysis_type="security")
    status = result.security_analysis.compliance_status
    assert status["A10"].status == "fail"
    assert status["A10"].cwes == ["CWE-918"]
    assert status["A03"].status == "pass"
    assert status["A06"].status == "not_assessed"
    assert result.security_analysis.overall_score < 100


def test_a_clean_file_scores_100_with_every_analyser_reporting_ok(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse("def add(a: int, b: int) -> int:\n    return a + b\n", file_path="calc.py")
    assert result.security_analysis.overall_score == 100
    assert result.coverage.complete
    assert {a.name for a in result.coverage.analysers} >= {
        "bandit",
        "ruff",
        "radon",
        "detect-secrets",
        "taint",
    }
    assert all(a.status == "ok" for a in result.coverage.analysers)


def test_a_nosec_comment_silences_the_security_findings_on_its_line(analyse) -> None:  # type: ignore[no-untyped-def]
    code = "import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)  # nosec\n"
    assert [
        s
        for s in analyse(code, severity_threshold="low").suggestions
        if s.line_start == 4 and s.type == "security"
    ] == []


PERF = """import sqlite3


def report(conn: sqlite3.Connection, ids: list[int]) -> str:
    seen = []
    out = ""
    queue = list(ids)
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.append(current)
        row = conn.execute("SELECT name FROM t WHERE id = ?", (current,)).fetchone()
        out += f"{current}: {row[0]}\\n"
    return out
"""


def test_performance_analysis_reports_quadratic_idioms_and_queries_in_loops(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(PERF, analysis_type="performance")
    rules = {(s.rule_id, s.line_start) for s in result.suggestions}
    assert ("quality/list-pop-front", 9) in rules
    assert ("quality/list-membership-loop", 10) in rules
    assert ("quality/query-in-loop", 13) in rules
    assert ("quality/string-concat-loop", 14) in rules
    assert all(s.type == "performance" for s in result.suggestions)
    assert all(s.recommendation for s in result.suggestions)


def _deep_and_long() -> str:
    body = ["def handler(a, b, c, d, e, f, g, h):", "    total = 0"]
    body += [
        "    for x in a:",
        "        if x:",
        "            for y in b:",
        "                if y:",
        "                    while c:",
        "                        total += 1",
        "                        c -= 1",
    ]
    body += [f"    total += {i}" for i in range(70)]
    body.append("    return total")
    methods = "\n".join(f"    def m{i}(self):\n        return {i}\n" for i in range(22))
    return "\n".join(body) + "\n\n\nclass Everything:\n" + methods


def test_architecture_analysis_reports_long_functions_deep_nesting_and_god_classes(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(_deep_and_long(), analysis_type="architecture", severity_threshold="low")
    rules = {s.rule_id for s in result.suggestions}
    assert {
        "quality/long-function",
        "quality/deep-nesting",
        "quality/god-class",
        "quality/many-parameters",
    } <= rules
    assert result.metrics.maintainability_index is not None
    assert all(s.type == "architecture" for s in result.suggestions)


def test_max_suggestions_and_focus_areas_shape_the_list(analyse) -> None:  # type: ignore[no-untyped-def]
    code = _read("cwe-022-path-traversal/tar_extractall_upload_vuln.py") + "\n" + PERF
    focused = analyse(code, max_suggestions=1, focus_areas=["performance"])
    assert len(focused.suggestions) == 1
    assert focused.suggestions[0].type == "performance"
    assert focused.total_findings > 1


def test_javascript_is_measured_by_lizard_and_scanned_for_secrets_only(analyse) -> None:  # type: ignore[no-untyped-def]
    branches = "\n".join(f"  if (x === {i}) {{ y += {i}; }}" for i in range(14))
    code = f'const AWS_KEY = "AKIAIOSFODNN7EXAMPLE";\nfunction busy(x) {{\n  let y = 0;\n{branches}\n  return y;\n}}\n'
    result = analyse(code, file_path="web/app.js", severity_threshold="low")
    assert result.language == "javascript"
    assert result.coverage.language_source == "extension"
    statuses = {a.name: a.status for a in result.coverage.analysers}
    assert statuses["lizard"] == "ok" and statuses["bandit"] == "not_applicable"
    assert any(s.rule_id == "lizard/complexity" for s in result.suggestions)
    assert any(s.cwe == "CWE-798" and s.line_start == 1 for s in result.suggestions)
    assert result.security_analysis.overall_score <= 70


def test_the_language_is_detected_from_content_when_there_is_no_path(analyse) -> None:  # type: ignore[no-untyped-def]
    result = analyse(
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n', file_path=""
    )
    assert (result.language, result.coverage.language_source) == ("go", "content")


def test_a_cwe_focus_area_ranks_that_cwe_first_and_not_its_prefixes(analyse) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import hashlib\n\n"
        'API_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"\n\n\n'
        "def fingerprint(data: bytes) -> str:\n"
        "    return hashlib.md5(data).hexdigest()\n"
    )
    weak_hash = analyse(code, focus_areas=["CWE-328"])
    assert weak_hash.suggestions[0].cwe == "CWE-328"
    # "CWE-32" is a prefix of CWE-328 but not that weakness: plain severity order applies
    prefix = analyse(code, focus_areas=["CWE-32"])
    assert [s.cwe for s in prefix.suggestions[:2]] == ["CWE-798", "CWE-328"]
