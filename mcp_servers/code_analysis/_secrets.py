"""detect-secrets, in-process, over the lines that could hold a secret.

detect-secrets runs every plugin and filter on every line through a dependency-
injection layer, which costs about 0.4 ms per line. A secret needs either a
credential-like word nearby (keyword detector) or a long token (entropy, vendor key
formats), so lines with neither are skipped before the plugins run; the plugins and
filters themselves are detect-secrets' own, with its default configuration.
"""

from __future__ import annotations

import re
import threading
import time
from importlib import metadata
from typing import Any

from mcp_servers.code_analysis import _cwe
from mcp_servers.code_analysis._findings import AnalyserOutput, AnalyserRun, Finding

_CANDIDATE = re.compile(
    r"(?i)(key|pass|pwd|secret|token|auth|credential|contrase|private|begin|://|bearer|"
    r"xox[a-z]-|ghp_|gh[ous]_|sk_live|AKIA|AIza)|[A-Za-z0-9+/=_\-]{20,}"
)


class SecretsRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self.version = metadata.version("detect-secrets")

    def warm(self) -> None:
        with self._lock:
            if self._ready:
                return
            from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
            from detect_secrets.settings import configure_settings_from_baseline

            # detect-secrets keeps its configuration in a process-wide object: this
            # process only ever uses the default plugin set, configured once.
            configure_settings_from_baseline(
                {
                    "plugins_used": [
                        {"name": plugin.__name__}
                        for plugin in get_mapping_from_secret_type_to_class().values()
                    ]
                }
            )
            self._ready = True

    def run(self, source: str, filename: str, *, python: bool = False) -> AnalyserOutput:
        """Scan ``source``; for Python, only lines with a string literal or a comment can
        hold a secret (anything else would be an identifier or a syntax error)."""
        self.warm()
        from detect_secrets.core import scan
        from detect_secrets.settings import get_plugins
        from detect_secrets.util.code_snippet import get_code_snippet

        started = time.perf_counter()
        name = filename or "input.py"
        lines = source.splitlines()
        found: list[Finding] = []
        seen: set[tuple[int, str]] = set()
        with self._lock:
            plugins: list[Any] = list(get_plugins())
            for number, raw in enumerate(lines, 1):
                if len(raw) > 2000 or not _CANDIDATE.search(raw):
                    continue
                if python and not ("'" in raw or '"' in raw or "#" in raw):
                    continue
                line = raw.rstrip()
                snippet = get_code_snippet(lines=lines, line_number=number)
                if scan._is_filtered_out(
                    required_filter_parameters=["line"], filename=name, line=line, context=snippet
                ):
                    continue
                for plugin in plugins:
                    for secret in scan._scan_line(
                        plugin=plugin, filename=name, line=line, line_number=number, context=snippet
                    ):
                        if scan._is_filtered_out(
                            required_filter_parameters=["context"],
                            filename=name,
                            secret=secret.secret_value,
                            plugin=plugin,
                            line=line,
                            context=snippet,
                        ):
                            continue
                        key = (number, str(secret.type))
                        if key not in seen:
                            seen.add(key)
                            found.append(_finding(secret, number))
        run = AnalyserRun(
            "detect-secrets", "ok", "", len(found), _ms(started), self.version, parsed=True
        )
        return AnalyserOutput(run, found)


def _finding(secret: Any, line: int) -> Finding:
    kind = str(secret.type)
    # The keyword detector judges by the variable's name; entropy detectors by randomness
    # alone; vendor formats (AWS, Slack, private keys...) are specific.
    by_name = kind == "Secret Keyword"
    strong = not by_name and "High Entropy" not in kind
    info = _cwe.info(798)
    return Finding(
        rule_id=f"secrets/{kind.lower().replace(' ', '-')}",
        analyser="detect-secrets",
        category="security",
        title=f"Possible secret: {kind}",
        message=f"detect-secrets found a {kind} on this line.",
        line_start=line,
        line_end=line,
        severity="high" if strong else "low" if by_name else "medium",
        confidence="high" if strong else "low",
        cwe=798,
        recommendation=info.recommendation if info else "",
        example_fix=info.example_fix if info else "",
        doc_url="https://github.com/Yelp/detect-secrets",
        evidence="pattern",
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
