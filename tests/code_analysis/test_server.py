"""The MCP server: the tool through MCP in-process, over HTTP, via the gateway, and conformance."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from gateway.app import create_app
from gateway.mcp_mounts import MCP_MOUNTS, McpMount
from mcp_servers.code_analysis import create_server
from mcp_servers.code_analysis._settings import CodeAnalysisSettings
from promptcraft.runtime import Runtime
from tests.support.asgi_server import serve_asgi
from tests.support.conformance import GENERIC_SCENARIOS, run_scenario
from tests.support.mcp_client import http_client
from tests.support.mcp_process import serve_module

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
VULN = (
    Path(__file__).parent / "corpus" / "cwe-089-sql-injection" / "flask_fstring_vuln.py"
).read_text()
SETTINGS = CodeAnalysisSettings(bandit_worker=False)


async def test_the_tool_returns_structured_content_shaped_like_the_analyze_api(
    runtime: Runtime,
) -> None:
    server = create_server(SETTINGS, runtime)
    async with Client(server) as client:
        tools = await client.list_tools()
        tool = next(t for t in tools.tools if t.name == "analyze_code")
        assert tool.output_schema is not None
        assert set(tool.input_schema["properties"]) >= {
            "code",
            "file_path",
            "language",
            "analysis_type",
            "focus_areas",
            "severity_threshold",
            "max_suggestions",
            "include_examples",
        }
        with anyio.fail_after(60):
            result = await client.call_tool("analyze_code", {"code": VULN, "file_path": "app.py"})
    assert not result.is_error
    data = result.structured_content
    assert data is not None
    assert set(data) >= {
        "analysis_summary",
        "suggestions",
        "security_analysis",
        "executable_actions",
        "coverage",
        "processing_time_ms",
    }
    top = data["suggestions"][0]
    assert (top["rule_id"], top["line_start"], top["cwe"], top["severity"]) == (
        "taint/sql-injection",
        16,
        "CWE-89",
        "critical",
    )
    assert data["security_analysis"]["compliance_status"]["A03"]["status"] == "fail"
    assert any(a["requires_approval"] for a in data["executable_actions"])


async def test_bad_input_comes_back_as_a_tool_error_the_model_can_read(runtime: Runtime) -> None:
    server = create_server(CodeAnalysisSettings(bandit_worker=False, max_input_bytes=100), runtime)
    async with Client(server) as client:
        empty = await client.call_tool("analyze_code", {"code": ""})
        large = await client.call_tool("analyze_code", {"code": "x = 1\n" * 50})
        binary = await client.call_tool("analyze_code", {"code": "\x00\x01\x02" * 10})
    assert empty.is_error and "empty" in empty.content[0].text  # type: ignore[union-attr]
    assert large.is_error and "PROMPTCRAFT_CODE_ANALYSIS_MAX_INPUT_BYTES" in large.content[0].text  # type: ignore[union-attr]
    assert binary.is_error and "binary" in binary.content[0].text  # type: ignore[union-attr]


async def test_promptcraft_serve_mounts_the_server_at_mcp_code_analysis(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PROMPTCRAFT_CODE_ANALYSIS_BANDIT_WORKER", "false"
    )  # no worker in the test process
    assert McpMount("code-analysis", "mcp_servers.code_analysis") in MCP_MOUNTS
    await runtime.users.add("ada", "correct horse battery")
    token = runtime.tokens.issue("ada").token
    mounts = (McpMount("code-analysis", "mcp_servers.code_analysis"),)
    async with (
        serve_asgi(create_app(runtime, mounts)) as base,
        http_client(f"{base}/mcp/code-analysis", token) as client,
    ):
        with anyio.fail_after(60):
            result = await client.call_tool(
                "analyze_code",
                {"code": VULN, "file_path": "app.py", "analysis_type": "security"},
            )
    assert not result.is_error
    assert (
        result.structured_content and result.structured_content["suggestions"][0]["cwe"] == "CWE-89"
    )


async def test_the_server_runs_alone_over_stdio() -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_servers.code_analysis", "--stdio"],
        cwd=str(ROOT),
        env={
            "PROMPTCRAFT_CODE_ANALYSIS_BANDIT_WORKER": "false",
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
        },
    )
    with anyio.fail_after(90):
        async with Client(params) as client:
            result = await client.call_tool(
                "analyze_code", {"code": VULN, "file_path": "app.py", "max_suggestions": 1}
            )
    assert not result.is_error
    assert (
        result.structured_content
        and result.structured_content["suggestions"][0]["rule_id"] == "taint/sql-injection"
    )


@pytest.mark.conformance
@pytest.mark.slow
def test_the_official_conformance_suite_passes_the_generic_scenarios(tmp_path: Path) -> None:
    with serve_module(
        "mcp_servers.code_analysis", tmp_path, {"PROMPTCRAFT_CODE_ANALYSIS_BANDIT_WORKER": "false"}
    ) as url:
        failures = {}
        for scenario in GENERIC_SCENARIOS:
            outcome = run_scenario(url, scenario)
            if not outcome.passed:
                failures[scenario] = outcome.output[-2000:]
    assert not failures, failures


async def test_a_standalone_server_answers_over_streamable_http_with_its_bandit_worker(
    tmp_path: Path,
) -> None:
    with serve_module("mcp_servers.code_analysis", tmp_path) as url:
        async with http_client(url) as client:
            with anyio.fail_after(90):
                result = await client.call_tool(
                    "analyze_code",
                    {"code": VULN, "file_path": "app.py", "severity_threshold": "low"},
                )
    assert not result.is_error
    data = result.structured_content or {}
    bandit = next(a for a in data["coverage"]["analysers"] if a["name"] == "bandit")
    assert bandit["status"] == "ok" and bandit["findings"] >= 1
