"""The labelled corpus: its shape, and the quality threshold the analysis must keep."""

from __future__ import annotations

from collections import Counter

from mcp_servers.code_analysis._engine import Analyzer, Request
from tests.code_analysis.scoring import Reported, Sample, average_difference, samples, score


def _reported(analyzer: Analyzer, sample: Sample) -> list[Reported]:
    result = analyzer.analyze(
        Request(
            sample.path.read_text(encoding="utf-8"),
            file_path=sample.name,
            analysis_type="security",
            max_suggestions=0,
        )
    )
    return [
        Reported(int(v.cwe.removeprefix("CWE-")) if v.cwe else None, v.line_start, v.line_end)
        for v in result.security_analysis.vulnerabilities
    ]


def test_the_corpus_has_sixty_vulnerable_snippets_over_fifteen_cwes_each_with_a_safe_twin() -> None:
    everything = samples()
    vulnerable = [s for s in everything if s.vulnerable]
    assert len(vulnerable) >= 60
    assert len({s.category for s in vulnerable}) >= 15
    names = {s.path.name for s in everything}
    for sample in vulnerable:
        assert sample.path.name.replace("_vuln.py", "_safe.py") in names, sample.name
    per_category = Counter(s.category for s in vulnerable)
    assert min(per_category.values()) >= 2


def test_every_category_named_by_the_issue_is_in_the_corpus() -> None:
    cwes = {s.cwe for s in samples()}
    assert {22, 601, 90, 643, 501, 89, 78, 94, 79, 918, 611, 502, 798, 327, 330, 489, 295} <= cwes


def test_the_average_true_minus_false_positive_rate_on_the_corpus_is_at_least_0_6(
    analyzer: Analyzer,
) -> None:
    scores = score(samples(), lambda s: _reported(analyzer, s))
    average = average_difference(scores)
    report = {
        k: (round(v.tpr, 2), round(v.fpr, 2), v.missed, v.false_alarms) for k, v in scores.items()
    }
    assert average >= 0.6, report
