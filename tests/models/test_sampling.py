"""MCP sampling as a model: the calling client's model answers, over both protocol eras."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CreateMessageRequestParams, CreateMessageResult, TextContent
from pydantic import BaseModel

from promptcraft.models import (
    ChatMessage,
    ChatRequest,
    ModelError,
    SamplingChatModel,
    sampling_request,
    sampling_response,
)

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}}


class Answer(BaseModel):
    content: str
    parsed: Any
    model: str


def question(text: str) -> ChatRequest:
    return ChatRequest(
        [ChatMessage("system", "Be brief."), ChatMessage("user", text)],
        json_schema=SCHEMA,
        max_tokens=50,
    )


async def sample(text: str) -> Any:
    return sampling_request(question(text))


def build_server() -> MCPServer:
    server = MCPServer("sampling-test")

    @server.tool()
    async def ask_mid_call(text: str, ctx: Context) -> Answer:
        try:
            reply = await SamplingChatModel(ctx).complete(question(text))
        except ModelError as exc:
            raise ToolError(str(exc)) from exc
        return Answer(content=reply.content, parsed=reply.parsed, model=reply.model)

    @server.tool()
    async def ask_by_resolver(
        text: str, sampled: Annotated[CreateMessageResult, Resolve(sample)]
    ) -> Answer:
        reply = sampling_response(sampled, question(text))
        return Answer(content=reply.content, parsed=reply.parsed, model=reply.model)

    return server


seen: list[CreateMessageRequestParams] = []


async def client_model(context: Any, params: CreateMessageRequestParams) -> CreateMessageResult:
    seen.append(params)
    return CreateMessageResult(
        role="assistant",
        content=TextContent(type="text", text='```json\n{"answer": 42}\n```'),
        model="client-llm",
        stop_reason="endTurn",
    )


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_resolver_samples_the_clients_model_in_either_protocol_era(mode: str) -> None:
    seen.clear()
    async with Client(build_server(), sampling_callback=client_model, mode=mode) as client:  # type: ignore[arg-type]
        result = await client.call_tool("ask_by_resolver", {"text": "six times seven?"})
    assert not result.is_error, result.content
    assert result.structured_content == {
        "content": '```json\n{"answer": 42}\n```',
        "parsed": {"answer": 42},
        "model": "client-llm",
    }
    params = seen[0]
    assert params.max_tokens == 50
    assert params.system_prompt is not None and "Be brief." in params.system_prompt
    assert '"answer"' in params.system_prompt  # the schema travels in the system prompt
    assert [m.role for m in params.messages] == ["user"]


async def test_the_mid_call_adapter_samples_on_a_handshake_era_connection() -> None:
    seen.clear()
    async with Client(build_server(), sampling_callback=client_model, mode="legacy") as client:
        result = await client.call_tool("ask_mid_call", {"text": "six times seven?"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["parsed"] == {"answer": 42}
    assert len(seen) == 1


async def test_the_mid_call_adapter_refuses_a_client_without_sampling() -> None:
    async with Client(build_server(), mode="legacy") as client:
        result = await client.call_tool("ask_mid_call", {"text": "?"})
    assert result.is_error
    assert "sampling capability" in str(result.content[0])


async def test_the_mid_call_adapter_points_modern_connections_at_the_resolver_path() -> None:
    async with Client(build_server(), sampling_callback=client_model) as client:
        result = await client.call_tool("ask_mid_call", {"text": "?"})
    assert result.is_error
    assert "Resolve(" in str(result.content[0])
