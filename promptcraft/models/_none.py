"""The ``none`` adapter: no model. Every call fails with a message naming the settings to set."""

from __future__ import annotations

from promptcraft.models._types import ChatRequest, ChatResponse, TextCallback
from promptcraft.models.errors import ModelNotConfiguredError

NOT_CONFIGURED = (
    "no model is configured: set PROMPTCRAFT_MODEL_PROVIDER=openai with PROMPTCRAFT_MODEL_NAME "
    "(and PROMPTCRAFT_MODEL_BASE_URL for vLLM, Ollama or a llama.cpp server, "
    "PROMPTCRAFT_MODEL_API_KEY for OpenAI), or PROMPTCRAFT_MODEL_PROVIDER=azure with "
    "AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and PROMPTCRAFT_MODEL_AZURE_DEPLOYMENT"
)


class NoChatModel:
    """Stands in where no model is configured, so callers can check ``available``."""

    @property
    def provider(self) -> str:
        return "none"

    @property
    def available(self) -> bool:
        return False

    async def complete(
        self, request: ChatRequest, *, on_text: TextCallback | None = None
    ) -> ChatResponse:
        raise ModelNotConfiguredError(NOT_CONFIGURED)

    async def aclose(self) -> None:
        return None
