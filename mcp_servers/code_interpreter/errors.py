"""Errors of the code interpreter. Each message says what to change."""

from __future__ import annotations

from promptcraft.errors import PromptCraftError


class CodeInterpreterError(PromptCraftError):
    """Base of every error this package raises on purpose."""


class SandboxUnavailableError(CodeInterpreterError):
    """The configured backend cannot isolate code here; the server refuses to run any."""


class SandboxEnvironmentError(SandboxUnavailableError):
    """The read-only package environment is missing, stale or broken."""


class IsolationCheckError(SandboxUnavailableError):
    """The start-up probe saw the sandbox fail to isolate; the message lists what leaked."""


class SandboxCrashedError(CodeInterpreterError):
    """The sandbox machinery itself failed (not the user's code)."""
