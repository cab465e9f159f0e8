"""``python -m mcp_servers.human_in_loop [--stdio] [--host H] [--port P]``."""

from mcp_servers.human_in_loop import (
    MOUNT_PATH,
    create_http_routes,
    create_server,
    load_settings,
)
from promptcraft.mcp_host import run_server_main

if __name__ == "__main__":
    run_server_main(
        "human_in_loop",
        MOUNT_PATH,
        load_settings,
        create_server,
        create_http_routes=create_http_routes,
    )
