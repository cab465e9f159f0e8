"""The labelled corpus and its scoring, shared by the tests and the benchmark.

Each directory ``corpus/cwe-NNN-<name>/`` is one category. A file ending in
``_vuln.py`` is vulnerable and marks its sink line with ``# expect: CWE-N``; a file
ending in ``_safe.py`` is its fixed twin (or a safe look-alike). A vulnerable file
counts as found when a reported vulnerability of the category's CWE family covers
the marked line; a safe file counts as a false alarm when any vulnerability of that
family is reported anywhere in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mcp_servers.code_analysis import _cwe

CORPUS = Path(__file__).parent / "corpus"
# Written after the analysis was finished and never used to tune it: a fairer estimate.
HOLDOUT = Path(__file__).parent / "holdout"
_EXPECT = re.compile(r"#\s*expect:\s*CWE-(\d+)")


@dataclass(frozen=True)
class Sample:
    path: Path
    category: str
    cwe: int
    vulnerable: bool
    expected_line: int | None
    expected_cwe: int | None

    @property
    def family(self) -> str:
        return _cwe.family(self.cwe)

    @property
    def name(self) -> str:
        return f"{self.category}/{self.path.name}"


@dataclass(frozen=True)
class Reported:
    cwe: int | None
    line_start: int
    line_end: int


def samples(root: Path = CORPUS) -> list[Sample]:
    found: list[Sample] = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        cwe = int(directory.name.split("-")[1])
        for path in sorted(directory.glob("*.py")):
            vulnerable = path.name.endswith("_vuln.py")
            line = None
            expected = None
            for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                match = _EXPECT.search(text)
                if match:
                    line, expected = number, int(match.group(1))
            if vulnerable and line is None:
                raise ValueError(f"{path} is labelled vulnerable but has no '# expect: CWE-N' line")
            found.append(Sample(path, directory.name, cwe, vulnerable, line, expected))
    return found


@dataclass
class CategoryScore:
    category: str
    vulnerable: int = 0
    safe: int = 0
    true_positives: int = 0
    false_positives: int = 0
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def tpr(self) -> float:
        return self.true_positives / self.vulnerable if self.vulnerable else 0.0

    @property
    def fpr(self) -> float:
        return self.false_positives / self.safe if self.safe else 0.0

    @property
    def difference(self) -> float:
        return self.tpr - self.fpr


def is_hit(sample: Sample, reported: Iterable[Reported]) -> bool:
    return any(
        _cwe.family(r.cwe) == sample.family
        and sample.expected_line is not None
        and r.line_start <= sample.expected_line <= r.line_end
        for r in reported
    )


def is_false_alarm(sample: Sample, reported: Iterable[Reported]) -> bool:
    return any(_cwe.family(r.cwe) == sample.family for r in reported)


def score(
    all_samples: list[Sample], analyse: Callable[[Sample], list[Reported]]
) -> dict[str, CategoryScore]:
    scores: dict[str, CategoryScore] = {}
    for sample in all_samples:
        entry = scores.setdefault(sample.category, CategoryScore(sample.category))
        reported = analyse(sample)
        if sample.vulnerable:
            entry.vulnerable += 1
            if is_hit(sample, reported):
                entry.true_positives += 1
            else:
                entry.missed.append(sample.path.name)
        else:
            entry.safe += 1
            if is_false_alarm(sample, reported):
                entry.false_positives += 1
                entry.false_alarms.append(sample.path.name)
    return scores


def average_difference(scores: dict[str, CategoryScore]) -> float:
    return sum(s.difference for s in scores.values()) / len(scores) if scores else 0.0
