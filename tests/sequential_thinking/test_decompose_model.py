"""decompose_task with a model: through a local OpenAI-wire server, and through MCP sampling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp_types import CreateMessageRequestParams, CreateMessageResult, TextContent

from promptcraft.models import ModelSettings
from promptcraft.runtime import Runtime
from tests.sequential_thinking.support import build
from tests.support.openai_wire import OpenAIWire, Reply, openai_wire_server

pytestmark = pytest.mark.anyio

GOAL = {
    "goal": "Write a slugify function and deploy it to production",
    "context": {"execution_preferences": {"security_level": "standard"}},
    "max_steps": 6,
}

MODEL_PLAN = {
    "steps": [
        {
            "description": "Write slugify() with unit tests",
            "type": "code_generation",
            "agent": "code_generator",
            "estimated_duration": "3 minutes",
            "requires_approval": False,
        },
        {
            "description": "Scan slugify() for security issues",
            "type": "security_analysis",
            "agent": "code_analysis",
            "estimated_duration": "1 minute",
            "requires_approval": False,
        },
        {
            "description": "Run the unit tests",
            "type": "testing",
            "agent": "code_interpreter",
            "estimated_duration": "2 minutes",
            "requires_approval": False,
        },
        {
            "description": "Deploy to production",
            "type": "deployment",
            "agent": "",
            "estimated_duration": "5 minutes",
            "requires_approval": False,
        },
        {
            "description": "Document slugify()",
            "type": "documentation",
            "agent": "documenter",
            "estimated_duration": "1 minute",
            "requires_approval": False,
        },
    ],
    "rationale": "Generate, check, test, deploy, document.",
}
PRICES = {"planner-model": {"input_per_1k": 0.5, "output_per_1k": 1.5}}


def model_settings(wire: OpenAIWire, **overrides: Any) -> ModelSettings:
    values: dict[str, Any] = {
        "provider": "openai",
        "base_url": wire.base_url,
        "api_key": wire.api_key,
        "model": "planner-model",
        "prices": PRICES,
        "timeout_seconds": 10,
        "retry_backoff_seconds": 0.01,
        **overrides,
    }
    return ModelSettings(**values)


async def decompose(runtime: Runtime, settings: ModelSettings, **overrides: Any) -> Any:
    async with Client(build(runtime, settings, **overrides)) as client:
        return await client.call_tool("decompose_task", GOAL)


async def test_a_valid_model_plan_is_returned_with_policy_applied_usage_and_cost(
    runtime: Runtime,
) -> None:
    reply = Reply(content=json.dumps(MODEL_PLAN), prompt_tokens=2000, completion_tokens=400)
    async with openai_wire_server(reply) as wire:
        result = await decompose(runtime, model_settings(wire))
    assert not result.is_error, result.content
    plan = result.structured_content
    assert plan["planner"] == "model"
    assert [s["type"] for s in plan["steps"]] == [s["type"] for s in MODEL_PLAN["steps"]]
    assert [s["step"] for s in plan["steps"]] == [1, 2, 3, 4, 5]
    deployment = plan["steps"][3]
    assert deployment["requires_approval"] is True  # the model said false; policy says always
    assert deployment["agent"] == "deployer"  # filled in for the empty agent
    assert plan["steps"][0]["requires_approval"] is True  # generated code, human loop on
    assert plan["rationale"] == MODEL_PLAN["rationale"]
    assert plan["usage"] == {
        "input_tokens": 2000,
        "output_tokens": 400,
        "cost_usd": pytest.approx(1.6),
        "model": "planner-model",
        "calls": 1,
    }
    sent = wire.requests[0].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "execution_plan"
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["steps"]["maxItems"] == 6
    assert "slugify" in sent["messages"][1]["content"]


async def test_invalid_json_is_repaired_in_one_more_round(runtime: Runtime) -> None:
    broken = 'Sure! {"steps": [{"description": "Write it", "type": "code_generation"'
    async with openai_wire_server(
        Reply(content=broken, prompt_tokens=100, completion_tokens=20),
        Reply(content=json.dumps(MODEL_PLAN), prompt_tokens=300, completion_tokens=200),
    ) as wire:
        result = await decompose(runtime, model_settings(wire))
    assert not result.is_error, result.content
    plan = result.structured_content
    assert plan["planner"] == "model"
    assert plan["usage"]["calls"] == 2
    assert (plan["usage"]["input_tokens"], plan["usage"]["output_tokens"]) == (400, 220)
    repair = wire.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": broken}
    assert "not a valid plan: it is not JSON" in repair[-1]["content"]


async def test_a_plan_outside_the_schema_twice_is_reported_with_the_way_out(
    runtime: Runtime,
) -> None:
    wrong = json.dumps({"steps": [{"description": "Do it", "type": "magic"}], "rationale": ""})
    async with openai_wire_server(Reply(content=wrong)) as wire:
        result = await decompose(runtime, model_settings(wire))
    assert result.is_error
    message = result.content[0].text  # type: ignore[union-attr]
    assert "invalid plan twice" in message
    assert "steps.0.type" in message
    assert "PROMPTCRAFT_SEQUENTIAL_THINKING_PLANNER=rules" in message
    assert len(wire.requests) == 2


async def test_a_429_from_the_model_is_retried_and_the_plan_arrives(runtime: Runtime) -> None:
    async with openai_wire_server(
        Reply(
            status=429,
            error_message="Rate limit reached for requests",
            headers={"retry-after": "0"},
        ),
        Reply(content=json.dumps(MODEL_PLAN)),
    ) as wire:
        result = await decompose(runtime, model_settings(wire))
    assert not result.is_error, result.content
    assert result.structured_content["planner"] == "model"
    assert len(wire.requests) == 2


async def test_a_model_timeout_is_reported_as_a_tool_error_naming_the_setting(
    runtime: Runtime,
) -> None:
    async with openai_wire_server(Reply(content=json.dumps(MODEL_PLAN), delay=30)) as wire:
        result = await decompose(runtime, model_settings(wire, timeout_seconds=0.5))
    assert result.is_error
    assert "PROMPTCRAFT_MODEL_TIMEOUT_SECONDS" in result.content[0].text  # type: ignore[union-attr]
    assert len(wire.requests) == 1


async def test_bad_model_credentials_are_reported_naming_the_key_setting(runtime: Runtime) -> None:
    async with openai_wire_server(Reply(content="{}")) as wire:
        result = await decompose(runtime, model_settings(wire, api_key="sk-wrong"))
    assert result.is_error
    assert "PROMPTCRAFT_MODEL_API_KEY" in result.content[0].text  # type: ignore[union-attr]


async def test_the_rules_planner_can_be_forced_and_then_plans_generation_for_the_model(
    runtime: Runtime,
) -> None:
    async with openai_wire_server(Reply(content=json.dumps(MODEL_PLAN))) as wire:
        result = await decompose(runtime, model_settings(wire), planner="rules")
    assert not result.is_error, result.content
    plan = result.structured_content
    assert plan["planner"] == "rules"
    assert "code_generation" in [s["type"] for s in plan["steps"]]
    assert wire.requests == []


def client_model(answers: list[str]) -> Any:
    calls: list[CreateMessageRequestParams] = []

    async def sample(context: Any, params: CreateMessageRequestParams) -> CreateMessageResult:
        calls.append(params)
        text = answers[min(len(calls) - 1, len(answers) - 1)]
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text=text), model="client-llm"
        )

    sample.calls = calls  # type: ignore[attr-defined]
    return sample


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_without_a_model_the_clients_model_plans_through_sampling_with_one_repair(
    runtime: Runtime, mode: str
) -> None:
    sampler = client_model(
        ["I think you should write it.", "```json\n" + json.dumps(MODEL_PLAN) + "\n```"]
    )
    async with Client(build(runtime), sampling_callback=sampler, mode=mode) as client:  # type: ignore[arg-type]
        result = await client.call_tool("decompose_task", GOAL)
    assert not result.is_error, result.content
    plan = result.structured_content
    assert plan["planner"] == "model"
    assert plan["usage"]["model"] == "client-llm"
    assert plan["usage"]["calls"] == 2
    assert plan["steps"][3]["requires_approval"] is True
    calls = sampler.calls
    assert len(calls) == 2
    assert '"maxItems": 6' in calls[0].system_prompt  # the schema rides in the system prompt
    assert "not a valid plan" in calls[1].messages[-1].content.text
