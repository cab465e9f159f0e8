"""``python -m mcp_servers.code_analysis [--stdio] [--host H] [--port P]`` or ``... analyze PATH...``."""

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "analyze":
        from mcp_servers.code_analysis._cli import main as analyze_main

        raise SystemExit(analyze_main(sys.argv[2:]))

    from mcp_servers.code_analysis import MOUNT_PATH, create_server, load_settings
    from promptcraft.mcp_host import run_server_main

    run_server_main("code_analysis", MOUNT_PATH, load_settings, create_server)


# The bandit worker process is started with "spawn", which imports this module again
# under another name: only a real `python -m` run may start anything.
if __name__ == "__main__":
    main()
