"""The MCP server: one tool, ``analyze_code``."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_servers.code_analysis._engine import Analyzer, Request
from mcp_servers.code_analysis._models import AnalysisResult
from mcp_servers.code_analysis._settings import MOUNT_PATH, CodeAnalysisSettings
from mcp_servers.code_analysis.errors import InvalidInputError
from promptcraft.mcp_host import new_mcp_server
from promptcraft.runtime import Runtime

INSTRUCTIONS = (
    "Static analysis of source code. Call analyze_code with the file's text (and its path, "
    "so the language is known) to get line-anchored security findings with CWE and OWASP "
    "references, performance and architecture suggestions, a 0-100 security score and "
    "which analysers could read the code. Python gets the full analysis (bandit, ruff, "
    "radon, detect-secrets, taint tracking from request data to dangerous calls); other "
    "languages get complexity (lizard) and a secrets scan."
)


def create_server(settings: CodeAnalysisSettings, runtime: Runtime) -> MCPServer:
    server = new_mcp_server(
        "code-analysis", instructions=INSTRUCTIONS, runtime=runtime, mount_path=MOUNT_PATH
    )
    analyzer = Analyzer(settings)
    analyzer.warm()
    limiter = anyio.CapacityLimiter(settings.max_concurrent_analyses)

    @server.tool(
        title="Analyse code",
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def analyze_code(  # noqa: PLR0917
        code: Annotated[str, Field(description="The source text of one file.")],
        file_path: Annotated[
            str, Field(description="Its path; used to detect the language and in finding ids.")
        ] = "",
        language: Annotated[
            str,
            Field(description="Language name (python, javascript, go...); detected when empty."),
        ] = "",
        analysis_type: Annotated[
            Literal["security", "performance", "architecture", "general"],
            Field(
                description="Which findings to return as suggestions; general returns all kinds."
            ),
        ] = "general",
        focus_areas: Annotated[
            list[str] | None,
            Field(
                description="Topics to rank first, e.g. ['sql_injection', 'CWE-79', 'performance']."
            ),
        ] = None,
        severity_threshold: Annotated[
            Literal["low", "medium", "high", "critical"],
            Field(description="Lowest severity returned."),
        ] = "medium",
        max_suggestions: Annotated[
            int, Field(ge=0, description="Most suggestions returned; 0 returns all.")
        ] = 5,
        include_examples: Annotated[
            bool, Field(description="Include an example fix with each suggestion.")
        ] = True,
    ) -> AnalysisResult:
        """Analyse one file for security vulnerabilities, performance problems and architecture smells."""
        request = Request(
            code=code,
            file_path=file_path,
            language=language,
            analysis_type=analysis_type,
            focus_areas=tuple(focus_areas or ()),
            severity_threshold=severity_threshold,
            max_suggestions=max_suggestions,
            include_examples=include_examples,
        )
        try:
            return await anyio.to_thread.run_sync(analyzer.analyze, request, limiter=limiter)
        except InvalidInputError as exc:
            raise ToolError(str(exc)) from exc

    return server
