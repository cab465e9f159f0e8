"""Detection quality on the labelled corpus (tests/code_analysis/corpus).

For each category (one CWE family, vulnerable snippets and their safe twins) prints
the true-positive rate (vulnerable files whose marked sink line is reported with the
category's CWE family), the false-positive rate (safe files with any report of that
family) and their difference, then the average difference over the categories.

Our result is what ``analyze_code`` reports with its defaults (security view,
severity threshold medium). For comparison, the same scoring is applied to each
single scanner run on its own with its default settings, reporting every severity:
bandit with the CWE it assigns itself, and ruff's flake8-bandit (S) rules with the
CWE each rule describes (ruff assigns none).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcp_servers.code_analysis import _cwe  # noqa: E402
from mcp_servers.code_analysis._engine import Analyzer, Request  # noqa: E402
from mcp_servers.code_analysis._ruff import find_ruff  # noqa: E402
from mcp_servers.code_analysis._settings import CodeAnalysisSettings  # noqa: E402
from tests.code_analysis.scoring import (  # noqa: E402
    CORPUS,
    HOLDOUT,
    CategoryScore,
    Reported,
    Sample,
    average_difference,
    samples,
    score,
)

BIN = Path(sys.executable).parent


def ours(analyzer: Analyzer, cross: list[str], root: Path = CORPUS) -> dict[str, CategoryScore]:
    def run(sample: Sample) -> list[Reported]:
        code = sample.path.read_text(encoding="utf-8")
        result = analyzer.analyze(
            Request(code, file_path=sample.name, analysis_type="security", max_suggestions=0)
        )
        reported = []
        for v in result.security_analysis.vulnerabilities:
            cwe = int(v.cwe.removeprefix("CWE-")) if v.cwe else None
            reported.append(Reported(cwe, v.line_start, v.line_end))
            if _cwe.family(cwe) != sample.family:
                cross.append(f"{sample.name}:{v.line_start} {v.rule_id} {v.cwe} {v.severity}")
        return reported

    return score(samples(root), run)


def bandit_alone(root: Path = CORPUS) -> dict[str, CategoryScore]:
    proc = subprocess.run(
        [str(BIN / "bandit"), "-q", "-r", "-f", "json", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    by_file: dict[str, list[Reported]] = {}
    for item in json.loads(proc.stdout)["results"]:
        lines = item.get("line_range") or [item["line_number"]]
        by_file.setdefault(str(Path(item["filename"]).resolve()), []).append(
            Reported(item["issue_cwe"]["id"] or None, item["line_number"], max(lines))
        )
    return score(samples(root), lambda s: by_file.get(str(s.path.resolve()), []))


def ruff_alone(root: Path = CORPUS) -> dict[str, CategoryScore]:
    proc = subprocess.run(
        [
            find_ruff(),
            "check",
            "--isolated",
            "--no-cache",
            "--exit-zero",
            "--select",
            "S",
            "--output-format",
            "json",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    by_file: dict[str, list[Reported]] = {}
    for item in json.loads(proc.stdout):
        code = item.get("code") or ""
        by_file.setdefault(str(Path(item["filename"]).resolve()), []).append(
            Reported(_cwe.RUFF_CWE.get(code), item["location"]["row"], item["end_location"]["row"])
        )
    return score(samples(root), lambda s: by_file.get(str(s.path.resolve()), []))


def table(
    title: str,
    root: Path,
    mine: dict[str, CategoryScore],
    bandit: dict[str, CategoryScore],
    ruff: dict[str, CategoryScore],
) -> None:
    everything = samples(root)
    vulnerable = sum(1 for s in everything if s.vulnerable)
    print(
        f"{title}: {vulnerable} vulnerable and {len(everything) - vulnerable} safe snippets in {len(mine)} categories"
    )
    header = f"{'category':32} {'n':>5}  {'TPR':>5} {'FPR':>5} {'diff':>6}   {'bandit diff':>11} {'ruff S diff':>11}"
    print(header)
    print("-" * len(header))
    for name, entry in mine.items():
        print(
            f"{name:32} {entry.vulnerable:>2}/{entry.safe:<2}  {entry.tpr:5.2f} {entry.fpr:5.2f} {entry.difference:+6.2f}"
            f"   {bandit[name].difference:+11.2f} {ruff[name].difference:+11.2f}"
        )
    print("-" * len(header))
    print(
        f"{'average':32} {'':5}  {sum(e.tpr for e in mine.values()) / len(mine):5.2f} {sum(e.fpr for e in mine.values()) / len(mine):5.2f}"
        f" {average_difference(mine):+6.2f}   {average_difference(bandit):+11.2f} {average_difference(ruff):+11.2f}"
    )
    missed = [f"{k}/{m}" for k, e in mine.items() for m in e.missed]
    alarms = [f"{k}/{m}" for k, e in mine.items() for m in e.false_alarms]
    print(f"missed: {', '.join(missed) or 'none'}")
    print(f"false alarms: {', '.join(alarms) or 'none'}")


def main() -> None:
    analyzer = Analyzer(CodeAnalysisSettings(), bandit_worker=False)
    analyzer.warm()
    cross: list[str] = []
    started = time.perf_counter()
    mine = ours(analyzer, cross)
    elapsed = time.perf_counter() - started
    bandit = bandit_alone()
    ruff = ruff_alone()
    print(f"analysed in {elapsed:.1f} s")
    print()
    table("labelled corpus (tests/code_analysis/corpus)", CORPUS, mine, bandit, ruff)
    print()
    print(f"reports of another category's CWE family (not scored): {len(cross)}")
    for line in cross:
        print(f"  {line}")
    print()
    held: list[str] = []
    table(
        "held-out set (tests/code_analysis/holdout, written after the analysis, not tuned on)",
        HOLDOUT,
        ours(analyzer, held, HOLDOUT),
        bandit_alone(HOLDOUT),
        ruff_alone(HOLDOUT),
    )
    print(f"reports of another category's CWE family (not scored): {len(held)}")
    for line in held:
        print(f"  {line}")


if __name__ == "__main__":
    main()
