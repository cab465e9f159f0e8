"""The official MCP conformance suite against the server running alone (python -m ...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.conformance import GENERIC_SCENARIOS, run_scenario
from tests.support.mcp_process import serve_module

pytestmark = pytest.mark.conformance


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("human-in-loop")
    with serve_module("mcp_servers.human_in_loop", data_dir) as url:
        yield url


@pytest.mark.parametrize("scenario", GENERIC_SCENARIOS)
def test_the_official_conformance_scenario_passes(server_url: str, scenario: str) -> None:
    result = run_scenario(server_url, scenario)
    assert result.passed, result.output
