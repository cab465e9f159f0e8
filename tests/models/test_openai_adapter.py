"""The OpenAI-compatible adapter against a real HTTP server speaking the OpenAI wire format."""

from __future__ import annotations

import json

import anyio
import pytest

from promptcraft.models import (
    ChatMessage,
    ChatRequest,
    ModelAuthError,
    ModelError,
    ModelRateLimitedError,
    ModelSettings,
    ModelTimeoutError,
    ModelUnavailableError,
    create_chat_model,
)
from tests.support.openai_wire import OpenAIWire, Reply, openai_wire_server
from tests.support.ports import free_port

pytestmark = pytest.mark.anyio

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
}
ASK = ChatRequest(
    [
        ChatMessage("system", "You answer with JSON."),
        ChatMessage("user", "What is six times seven?"),
    ],
    json_schema=SCHEMA,
    schema_name="answer",
    max_tokens=64,
    temperature=0.0,
)


def settings_for(wire: OpenAIWire, **overrides: object) -> ModelSettings:
    values: dict[str, object] = {
        "provider": "openai",
        "base_url": wire.base_url,
        "api_key": wire.api_key,
        "model": "wire-model",
        "timeout_seconds": 10,
        "retry_backoff_seconds": 0.01,
        **overrides,
    }
    return ModelSettings(**values)  # type: ignore[arg-type]


async def test_a_schema_constrained_answer_comes_back_parsed_with_usage_and_cost() -> None:
    prices = {"wire-model": {"input_per_1k": 1.0, "output_per_1k": 2.0}}
    reply = Reply(content='{"answer": 42}', prompt_tokens=1000, completion_tokens=500)
    async with openai_wire_server(reply) as wire:
        model = create_chat_model(settings_for(wire, prices=prices))
        try:
            response = await model.complete(ASK)
        finally:
            await model.aclose()
    assert response.parsed == {"answer": 42}
    assert response.content == '{"answer": 42}'
    assert response.model == "wire-model"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1000, 500)
    assert response.usage.cost_usd == pytest.approx(2.0)
    sent = wire.requests[0].body
    assert sent["model"] == "wire-model"
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.0
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False},
    }
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


async def test_a_dated_model_name_is_priced_by_its_configured_prefix() -> None:
    prices = {"gpt-4o": {"input_per_1k": 0.0025, "output_per_1k": 0.01}}
    reply = Reply(
        content="{}", model="gpt-4o-2024-08-06", prompt_tokens=2000, completion_tokens=1000
    )
    async with openai_wire_server(reply) as wire:
        model = create_chat_model(settings_for(wire, model="gpt-4o", prices=prices))
        response = await model.complete(ASK)
        await model.aclose()
    assert response.model == "gpt-4o-2024-08-06"
    assert response.usage.cost_usd == pytest.approx(0.015)


async def test_streaming_hands_over_each_piece_and_totals_the_usage() -> None:
    text = '{"answer": 42, "why": "six sevens"}'
    async with openai_wire_server(
        Reply(content=text, chunk_size=5, prompt_tokens=30, completion_tokens=9)
    ) as wire:
        model = create_chat_model(settings_for(wire))
        pieces: list[str] = []

        async def collect(piece: str) -> None:
            pieces.append(piece)

        response = await model.complete(ASK, on_text=collect)
        await model.aclose()
    assert len(pieces) == 7
    assert "".join(pieces) == text == response.content
    assert response.parsed == {"answer": 42, "why": "six sevens"}
    assert (response.usage.input_tokens, response.usage.output_tokens) == (30, 9)
    assert response.finish_reason == "stop"
    assert wire.requests[0].body["stream"] is True
    assert wire.requests[0].body["stream_options"] == {"include_usage": True}


async def test_a_429_is_retried_after_the_servers_retry_after_and_then_answers() -> None:
    async with openai_wire_server(
        Reply(status=429, error_message="Rate limit reached", headers={"retry-after": "0.05"}),
        Reply(content='{"answer": 42}'),
    ) as wire:
        model = create_chat_model(settings_for(wire, retry_backoff_seconds=30))
        with anyio.fail_after(10):  # a 30 s backoff would blow this: Retry-After won
            response = await model.complete(ASK)
        await model.aclose()
    assert response.parsed == {"answer": 42}
    assert len(wire.requests) == 2


async def test_5xx_answers_are_retried_with_backoff() -> None:
    async with openai_wire_server(
        Reply(status=500, error_message="The server had an error"),
        Reply(status=503, error_message="overloaded"),
        Reply(content='{"answer": 1}'),
    ) as wire:
        model = create_chat_model(settings_for(wire, max_retries=2))
        response = await model.complete(ASK)
        await model.aclose()
    assert response.parsed == {"answer": 1}
    assert len(wire.requests) == 3


async def test_rate_limiting_that_outlasts_the_retries_names_the_setting_to_raise() -> None:
    async with openai_wire_server(
        Reply(status=429, error_message="Rate limit reached", headers={"retry-after": "0"})
    ) as wire:
        model = create_chat_model(settings_for(wire, max_retries=2))
        with pytest.raises(ModelRateLimitedError) as caught:
            await model.complete(ASK)
        await model.aclose()
    assert len(wire.requests) == 3
    assert "Rate limit reached" in str(caught.value)
    assert "PROMPTCRAFT_MODEL_MAX_RETRIES" in str(caught.value)


async def test_bad_credentials_fail_at_once_and_name_the_key_setting() -> None:
    async with openai_wire_server(Reply(content="{}")) as wire:
        model = create_chat_model(settings_for(wire, api_key="sk-wrong"))
        with pytest.raises(ModelAuthError) as caught:
            await model.complete(ASK)
        await model.aclose()
    assert len(wire.requests) == 1
    assert "PROMPTCRAFT_MODEL_API_KEY" in str(caught.value)
    assert "Incorrect API key" in str(caught.value)


async def test_a_slow_answer_is_reported_as_a_timeout_and_not_retried() -> None:
    async with openai_wire_server(Reply(content="{}", delay=30)) as wire:
        model = create_chat_model(settings_for(wire, timeout_seconds=0.5, max_retries=3))
        with anyio.fail_after(10), pytest.raises(ModelTimeoutError) as caught:
            await model.complete(ASK)
        await model.aclose()
    assert len(wire.requests) == 1
    assert "PROMPTCRAFT_MODEL_TIMEOUT_SECONDS" in str(caught.value)


async def test_a_stream_that_stalls_midway_is_reported_as_a_timeout() -> None:
    async with openai_wire_server(
        Reply(content='{"answer": 42}', chunk_size=2, stall_after=2)
    ) as wire:
        model = create_chat_model(settings_for(wire, timeout_seconds=0.5))
        pieces: list[str] = []

        async def collect(piece: str) -> None:
            pieces.append(piece)

        with anyio.fail_after(10), pytest.raises(ModelTimeoutError):
            await model.complete(ASK, on_text=collect)
        await model.aclose()
    assert pieces == ['{"', "an"]


async def test_an_error_event_after_streamed_text_is_reported_and_not_retried() -> None:
    async with openai_wire_server(
        Reply(content="partial", stream_error="upstream overloaded")
    ) as wire:
        model = create_chat_model(settings_for(wire, max_retries=3))

        async def ignore(piece: str) -> None:
            return None

        with pytest.raises(ModelUnavailableError) as caught:
            await model.complete(ASK, on_text=ignore)
        await model.aclose()
    assert "upstream overloaded" in str(caught.value)
    assert len(wire.requests) == 1


async def test_an_unreachable_endpoint_is_reported_with_the_url_setting() -> None:
    settings = ModelSettings(
        provider="openai",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        model="m",
        max_retries=1,
        retry_backoff_seconds=0.01,
    )
    model = create_chat_model(settings)
    with pytest.raises(ModelUnavailableError) as caught:
        await model.complete(ASK)
    await model.aclose()
    assert "PROMPTCRAFT_MODEL_BASE_URL" in str(caught.value)


async def test_an_unknown_model_names_the_model_setting() -> None:
    async with openai_wire_server(
        Reply(status=404, error_message="The model `nope` does not exist")
    ) as wire:
        model = create_chat_model(settings_for(wire, model="nope"))
        with pytest.raises(ModelError) as caught:
            await model.complete(ASK)
        await model.aclose()
    assert "PROMPTCRAFT_MODEL_NAME" in str(caught.value)
    assert "does not exist" in str(caught.value)


async def test_an_endpoint_without_json_schema_support_points_at_the_fallback_setting() -> None:
    async with openai_wire_server(
        Reply(status=400, error_message="response_format type json_schema is not supported")
    ) as wire:
        model = create_chat_model(settings_for(wire))
        with pytest.raises(ModelError) as caught:
            await model.complete(ASK)
        await model.aclose()
    assert "PROMPTCRAFT_MODEL_STRUCTURED_OUTPUT=json_object" in str(caught.value)


async def test_json_object_mode_sends_the_schema_in_the_prompt_and_parses_a_fenced_answer() -> None:
    fenced = 'Here it is:\n```json\n{"answer": 42}\n```'
    async with openai_wire_server(Reply(content=fenced)) as wire:
        model = create_chat_model(
            settings_for(
                wire, structured_output="json_object", max_tokens_parameter="max_completion_tokens"
            )
        )
        response = await model.complete(ASK)
        await model.aclose()
    assert response.parsed == {"answer": 42}
    sent = wire.requests[0].body
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["max_completion_tokens"] == 64
    assert "max_tokens" not in sent
    assert json.dumps(SCHEMA, separators=(",", ":")) in sent["messages"][0]["content"]


async def test_azure_uses_the_deployment_url_the_api_version_and_the_api_key_header() -> None:
    async with openai_wire_server(Reply(content='{"answer": 42}'), api_key="azure-key") as wire:
        settings = ModelSettings(
            provider="azure",
            azure_endpoint=wire.azure_endpoint,
            api_key="azure-key",
            azure_deployment="planner-dep",
            azure_api_version="2024-10-21",
        )
        model = create_chat_model(settings)
        response = await model.complete(ASK)
        await model.aclose()
    assert response.parsed == {"answer": 42}
    seen = wire.requests[0]
    assert seen.path == "/openai/deployments/planner-dep/chat/completions"
    assert seen.query["api-version"] == "2024-10-21"
    assert seen.headers["api-key"] == "azure-key"
    assert seen.body["model"] == "planner-dep"


async def test_azure_with_a_wrong_key_names_the_azure_key_setting() -> None:
    async with openai_wire_server(Reply(content="{}"), api_key="azure-key") as wire:
        settings = ModelSettings(
            provider="azure",
            azure_endpoint=wire.azure_endpoint,
            api_key="wrong",
            azure_deployment="planner-dep",
        )
        model = create_chat_model(settings)
        with pytest.raises(ModelAuthError) as caught:
            await model.complete(ASK)
        await model.aclose()
    assert "AZURE_OPENAI_API_KEY" in str(caught.value)
