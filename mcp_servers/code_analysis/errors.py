"""Errors of the code analysis server; messages say what to change."""

from __future__ import annotations

from promptcraft.errors import PromptCraftError


class CodeAnalysisError(PromptCraftError):
    """Base of this package's errors."""


class InvalidInputError(CodeAnalysisError):
    """The code cannot be analysed as given (empty, binary, too large, bad option)."""
