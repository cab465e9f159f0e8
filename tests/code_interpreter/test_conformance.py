"""The official MCP conformance suite against the server run on its own (streamable HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.conformance import GENERIC_SCENARIOS, run_scenario
from tests.support.mcp_process import serve_module

pytestmark = [pytest.mark.conformance, pytest.mark.bwrap]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_module("mcp_servers.code_interpreter", tmp_path_factory.mktemp("ci-data")) as url:
        yield url


@pytest.mark.parametrize("scenario", GENERIC_SCENARIOS)
def test_the_official_conformance_scenario_passes(server_url: str, scenario: str) -> None:
    result = run_scenario(server_url, scenario)
    assert result.passed, result.output[-3000:]
