"""``python -m mcp_servers.sequential_thinking [--stdio] [--host H] [--port P]``."""

from __future__ import annotations

from mcp_servers.sequential_thinking import MOUNT_PATH, NAME, create_server, load_settings
from promptcraft.mcp_host import run_server_main

if __name__ == "__main__":
    run_server_main(NAME, MOUNT_PATH, load_settings, create_server)
