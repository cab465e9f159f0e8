"""Choosing the backend the settings name, with the checks that need no sandbox yet."""

from __future__ import annotations

import sys

from mcp_servers.code_interpreter._protocol import SandboxBackend
from mcp_servers.code_interpreter._sandbox_env import SandboxEnv, load_env
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings
from mcp_servers.code_interpreter.errors import SandboxEnvironmentError, SandboxUnavailableError


def create_backend(settings: CodeInterpreterSettings) -> tuple[SandboxBackend, SandboxEnv | None]:
    """The configured backend and the package environment it serves.

    Raises SandboxUnavailableError (with the setting to change) when it cannot work here;
    the live isolation check runs when the backend starts.
    """
    if settings.backend == "unsafe-unsandboxed":
        from mcp_servers.code_interpreter._unsafe import UnsafeUnsandboxedBackend

        try:
            env: SandboxEnv | None = load_env(
                settings.effective_sandbox_env_dir, settings.allowed_packages
            )
        except SandboxEnvironmentError:
            env = None
        return UnsafeUnsandboxedBackend(settings, env), env
    env = load_env(settings.effective_sandbox_env_dir, settings.allowed_packages)
    if settings.backend == "docker":
        from mcp_servers.code_interpreter._docker import DockerBackend

        return DockerBackend(settings, env), env
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailableError(
            "the bubblewrap backend needs Linux; set CODE_INTERPRETER_BACKEND=docker"
        )
    from mcp_servers.code_interpreter._bwrap import BubblewrapBackend

    return BubblewrapBackend(settings, env), env
