"""The model port: what a caller sends, what it gets back, and the one interface adapters honour."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]

TextCallback = Callable[[str], Awaitable[None]]
"""Receives each piece of text as it arrives when a caller asks for streaming."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion.

    ``json_schema``, when given, constrains the answer to a JSON document of that
    schema (OpenAI ``response_format={"type": "json_schema", ...}``; adapters without
    native support put the schema in the prompt). ``temperature`` None leaves the
    endpoint's default (some reasoning models accept no other).
    """

    messages: Sequence[ChatMessage]
    json_schema: Mapping[str, Any] | None = None
    schema_name: str = "response"
    max_tokens: int = 1024
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a call consumed and what they cost (USD, from the configured price table)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            round(self.cost_usd + other.cost_usd, 10),
        )


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """The model's answer.

    ``parsed`` is the JSON document the content holds when the request had a
    ``json_schema`` and the content is JSON (fenced or not); None otherwise. It is
    *not* validated against the schema: the caller validates, and may ask again.
    """

    content: str
    parsed: Any
    usage: Usage
    model: str
    finish_reason: str | None = None


class ChatModel(Protocol):
    """What every model adapter offers: one completion at a time, and closing."""

    @property
    def provider(self) -> str:
        """``openai``, ``azure``, ``sampling`` or ``none``."""
        ...

    @property
    def available(self) -> bool:
        """False only for the ``none`` adapter: callers can plan without a model."""
        ...

    async def complete(
        self, request: ChatRequest, *, on_text: TextCallback | None = None
    ) -> ChatResponse:
        """Answer ``request``; with ``on_text``, stream and pass each text delta to it.

        Raises a :class:`~promptcraft.models.errors.ModelError` subclass that says what to do.
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1,000 tokens."""

    input_per_1k: float
    output_per_1k: float


@dataclass(frozen=True, slots=True)
class PriceTable:
    prices: Mapping[str, Price] = field(default_factory=dict)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """The cost of a call, or None when ``model`` has no entry.

        A model name the endpoint reports with a dated suffix (``gpt-4o-2024-08-06``)
        is priced by the longest configured name it starts with.
        """
        price = self.prices.get(model)
        if price is None:
            candidates = [name for name in self.prices if model.startswith(name)]
            if not candidates:
                return None
            price = self.prices[max(candidates, key=len)]
        return round(
            input_tokens / 1000 * price.input_per_1k + output_tokens / 1000 * price.output_per_1k,
            10,
        )


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n?```", re.DOTALL)


def parse_json_content(content: str) -> Any:
    """The JSON document in a model's answer, or None.

    Accepts bare JSON, JSON in a Markdown fence, and JSON surrounded by prose
    (the outermost ``{...}``), the three shapes models produce.
    """
    text = content.strip()
    candidates = [text]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None
