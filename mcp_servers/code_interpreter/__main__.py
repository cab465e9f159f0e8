"""``python -m mcp_servers.code_interpreter [--stdio] [--host H] [--port P]``."""

from mcp_servers.code_interpreter import create_server, load_settings
from promptcraft.mcp_host import run_server_main

if __name__ == "__main__":
    run_server_main("code_interpreter", "/mcp/code-interpreter", load_settings, create_server)
