"""Errors of the model port.

Every message says what to do: which setting to change, or that trying again later may help.
Callers that only care whether a model answered catch :class:`ModelError`.
"""

from __future__ import annotations

from promptcraft.errors import PromptCraftError


class ModelError(PromptCraftError):
    """The model could not give an answer; the message says why and what to change."""


class ModelNotConfiguredError(ModelError):
    """No model is configured (provider ``none``); the message names the setting to set."""


class ModelAuthError(ModelError):
    """The endpoint refused the credentials (401/403); the message names the key setting."""


class ModelTimeoutError(ModelError):
    """No complete answer within the configured timeout."""


class ModelRateLimitedError(ModelError):
    """Still rate-limited (429) after every retry."""


class ModelUnavailableError(ModelError):
    """The endpoint cannot be reached or keeps failing (5xx, connection refused)."""
