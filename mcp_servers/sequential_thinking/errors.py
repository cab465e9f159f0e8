"""Errors of the sequential-thinking server. Tools turn them into tool errors the model reads."""

from __future__ import annotations

from promptcraft.errors import PromptCraftError


class SequentialThinkingError(PromptCraftError):
    """Base of this package's errors; every message says what to send instead."""


class InvalidThoughtError(SequentialThinkingError):
    """A ``sequentialthinking`` call's arguments are malformed or out of range."""


class ThreadLimitError(SequentialThinkingError):
    """A thread reached a bound (branches); the message says how to go on."""


class InvalidGoalError(SequentialThinkingError):
    """``decompose_task`` got an empty, oversized or malformed goal, context or max_steps."""


class PlanningError(SequentialThinkingError):
    """No valid plan could be made (the model failed or answered invalid plans twice)."""
