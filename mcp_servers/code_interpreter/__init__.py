"""Code interpreter MCP server: untrusted Python and its tests, run in a sandbox nothing escapes.

Tools: ``execute_code``, ``run_tests``, ``list_packages``. Backends: bubblewrap (default),
docker, and the loudly named ``unsafe-unsandboxed``. See ``_harness.py`` and ``_bwrap.py``
for how a run is isolated, and ``scripts/setup_sandbox_env.sh`` for the package environment.
"""

from mcp_servers.code_interpreter._backends import create_backend
from mcp_servers.code_interpreter._server import create_server
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings, load_settings

__all__ = ["CodeInterpreterSettings", "create_backend", "create_server", "load_settings"]
