"""The model port: one small interface for chat completions, and its adapters.

```python
settings = load_model_settings()          # PROMPTCRAFT_MODEL_* (and AZURE_OPENAI_*)
model = create_chat_model(settings)       # openai | azure | none
reply = await model.complete(ChatRequest([ChatMessage("user", "...")], json_schema=schema))
reply.parsed, reply.usage.cost_usd
```

Adapters: any OpenAI-compatible endpoint and Azure OpenAI (``_openai``), the calling
MCP client's model through sampling (``_sampling``), and ``none`` (``_none``), whose
calls fail with a message naming the settings to configure.
"""

from __future__ import annotations

from promptcraft.models._none import NOT_CONFIGURED, NoChatModel
from promptcraft.models._sampling import (
    SamplingChatModel,
    client_offers_sampling,
    sampling_request,
    sampling_response,
)
from promptcraft.models._settings import ModelPrice, ModelSettings, load_model_settings
from promptcraft.models._types import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResponse,
    Price,
    PriceTable,
    Role,
    TextCallback,
    Usage,
    parse_json_content,
)
from promptcraft.models.errors import (
    ModelAuthError,
    ModelError,
    ModelNotConfiguredError,
    ModelRateLimitedError,
    ModelTimeoutError,
    ModelUnavailableError,
)

__all__ = [
    "NOT_CONFIGURED",
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "ModelAuthError",
    "ModelError",
    "ModelNotConfiguredError",
    "ModelPrice",
    "ModelRateLimitedError",
    "ModelSettings",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "NoChatModel",
    "Price",
    "PriceTable",
    "Role",
    "SamplingChatModel",
    "TextCallback",
    "Usage",
    "client_offers_sampling",
    "create_chat_model",
    "load_model_settings",
    "parse_json_content",
    "sampling_request",
    "sampling_response",
]


def create_chat_model(settings: ModelSettings) -> ChatModel:
    """The adapter ``settings.provider`` names.

    Raises ConfigurationError naming the missing or placeholder setting. The caller
    owns the model: ``await model.aclose()`` when done.
    """
    if settings.provider == "none":
        return NoChatModel()
    from promptcraft.models._openai import OpenAIChatModel

    return OpenAIChatModel(settings)
