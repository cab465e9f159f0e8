#!/usr/bin/env bash
# Builds the code interpreter's read-only package environment (default .sandbox-env/):
# a copy of the project's Python interpreter and standard library, the packages named by
# CODE_INTERPRETER_ALLOWED_PACKAGES (default numpy,pandas,requests,pytest) from the package
# index, and the shared libraries they load. The sandbox mounts only this, read-only.
# Idempotent: does nothing when the environment already matches; --force rebuilds it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -c 'import sys; from mcp_servers.code_interpreter._sandbox_env import main; sys.exit(main(sys.argv[1:]))' "$@"
