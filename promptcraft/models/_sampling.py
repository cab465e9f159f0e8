"""MCP sampling: the model of the MCP client that called our tool answers for us.

A server asks through ``sampling/createMessage``. How that travels depends on the
protocol era of the connection:

- handshake era (2025-11-25 and earlier: stdio, Claude Desktop, most IDEs): a
  request sent mid-call. :class:`SamplingChatModel` does that, so a tool can use the
  client's model like any other :class:`~promptcraft.models.ChatModel`.
- 2026-07-28 and later: there is no back channel; the tool answers
  ``input_required`` and the client retries with the result. The SDK drives that
  through resolvers: a tool parameter ``Annotated[CreateMessageResult | None,
  Resolve(fn)]`` whose ``fn`` returns :func:`sampling_request` (``Sample``) also
  works on the handshake era, so tools that must serve both use that path and turn
  the result into a :class:`ChatResponse` with :func:`sampling_response`.

MCP sampling results carry no token counts: usage is reported as zero tokens at
cost 0 (the client's user pays for those tokens, not us).
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, Sample
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import (
    CreateMessageRequest,
    CreateMessageResult,
    SamplingMessage,
    TextContent,
)
from mcp_types.version import is_version_at_least

from promptcraft.models._types import (
    ChatRequest,
    ChatResponse,
    TextCallback,
    Usage,
    parse_json_content,
)
from promptcraft.models.errors import ModelError, ModelTimeoutError, ModelUnavailableError

_MODERN = "2026-07-28"
_SCHEMA_PROMPT = (
    "Reply with one JSON document and nothing else. It must validate against this JSON Schema:\n"
)


def client_offers_sampling(ctx: Context[Any, Any]) -> bool:
    """Whether the MCP client behind this request declared the sampling capability."""
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.sampling is not None


def sampling_request(request: ChatRequest) -> Sample:
    """The ``Sample`` marker a resolver returns to have the client's model answer ``request``.

    System messages become the system prompt; a JSON schema is put in it too, since
    sampling has no structured-output parameter. The rendering is deterministic, as
    the 2026-07-28 retry rounds require.
    """
    system = [m.content for m in request.messages if m.role == "system"]
    if request.json_schema is not None:
        system.append(_SCHEMA_PROMPT + json.dumps(request.json_schema, sort_keys=True))
    messages = [
        SamplingMessage(role=m.role, content=TextContent(type="text", text=m.content))
        for m in request.messages
        if m.role != "system"
    ]
    return Sample(
        messages,
        max_tokens=request.max_tokens,
        system_prompt="\n\n".join(system) or None,
        temperature=request.temperature,
        include_context="none",
    )


def sampling_response(result: CreateMessageResult, request: ChatRequest) -> ChatResponse:
    """The :class:`ChatResponse` for a client's sampling result."""
    blocks = result.content if isinstance(result.content, list) else [result.content]
    text = "".join(block.text for block in blocks if isinstance(block, TextContent))
    return ChatResponse(
        content=text,
        parsed=parse_json_content(text) if request.json_schema is not None else None,
        usage=Usage(),
        model=result.model,
        finish_reason=result.stop_reason,
    )


class SamplingChatModel:
    """A :class:`~promptcraft.models.ChatModel` backed by the calling client's model.

    Only on handshake-era connections (see the module docstring); on 2026-07-28
    connections ``complete`` raises ModelUnavailableError pointing at the resolver path.
    """

    def __init__(self, ctx: Context[Any, Any], *, timeout_seconds: float = 300) -> None:
        self._ctx = ctx
        self._timeout = timeout_seconds

    @property
    def provider(self) -> str:
        return "sampling"

    @property
    def available(self) -> bool:
        return client_offers_sampling(self._ctx)

    async def aclose(self) -> None:
        return None

    async def complete(
        self, request: ChatRequest, *, on_text: TextCallback | None = None
    ) -> ChatResponse:
        ctx = self._ctx
        if not client_offers_sampling(ctx):
            raise ModelUnavailableError(
                "the MCP client did not declare the sampling capability, so its model cannot "
                "answer: configure a model (PROMPTCRAFT_MODEL_PROVIDER) or use a client with sampling"
            )
        version = ctx.protocol_version
        if version is not None and is_version_at_least(version, _MODERN):
            raise ModelUnavailableError(
                f"protocol {version} has no mid-call requests: sample through a Resolve(...) "
                "parameter returning promptcraft.models.sampling_request(...)"
            )
        marker = sampling_request(request)
        try:
            result = await ctx.session.send_request(
                CreateMessageRequest(params=marker.params),
                CreateMessageResult,
                request_read_timeout_seconds=self._timeout,
                metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
            )
        except TimeoutError as exc:
            raise ModelTimeoutError(
                f"the MCP client's model gave no answer within {self._timeout:g} s"
            ) from exc
        except MCPError as exc:
            raise ModelError(
                f"the MCP client refused or failed the sampling request: {exc}"
            ) from exc
        response = sampling_response(result, request)
        if on_text is not None and response.content:
            await on_text(response.content)
        return response
