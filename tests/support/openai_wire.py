"""A local HTTP server that speaks the OpenAI chat-completions wire format, with scripted replies.

It is a protocol double, not a mock of our code: the real ``openai`` client talks to
it over loopback HTTP. It serves

- ``POST /v1/chat/completions`` (OpenAI, vLLM, Ollama, llama.cpp style; Bearer key), and
- ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure
  style; ``api-key`` header),

answering each request with the next scripted :class:`Reply` (the last one repeats):
a JSON ``chat.completion``, an SSE stream of ``chat.completion.chunk`` events ending
in ``data: [DONE]`` when the request says ``stream: true``, or an OpenAI-shaped
error body ``{"error": {"message", "type", "param", "code"}}`` with its status and
headers (``retry-after`` on 429). ``delay`` holds the answer back (for timeouts);
``stall_after`` stops a stream mid-way. Every request is recorded.

```python
async with openai_wire_server(Reply(content='{"a": 1}')) as wire:
    settings = ModelSettings(provider="openai", base_url=wire.base_url, api_key=wire.api_key, model="m")
```
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.asgi_server import serve_asgi

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``status`` other than 200 sends an OpenAI error body."""

    content: str = ""
    status: int = 200
    error_message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int = 12
    completion_tokens: int = 8
    model: str | None = None
    finish_reason: str = "stop"
    chunk_size: int = 4
    stall_after: int | None = None
    """Streams only: after this many content chunks, stop sending (until the server closes)."""
    stream_error: str | None = None
    """Streams only: after the content, send ``data: {"error": {...}}`` instead of finishing."""


@dataclass(frozen=True)
class SeenRequest:
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]


class OpenAIWire:
    def __init__(self, replies: tuple[Reply, ...], api_key: str) -> None:
        self.api_key = api_key
        self.base_url = ""
        self.requests: list[SeenRequest] = []
        self._replies = list(replies) or [Reply(content="ok")]
        self._next = 0
        self._closing = anyio.Event()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route(
                    "/openai/deployments/{deployment}/chat/completions",
                    self._azure,
                    methods=["POST"],
                ),
            ]
        )

    @property
    def azure_endpoint(self) -> str:
        return self.base_url.removesuffix("/v1")

    def script(self, *replies: Reply) -> None:
        """Replace the remaining script."""
        self._replies = list(replies)
        self._next = 0

    def _take(self) -> Reply:
        reply = self._replies[min(self._next, len(self._replies) - 1)]
        self._next += 1
        return reply

    async def _openai(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        return await self._answer(request, auth == f"Bearer {self.api_key}")

    async def _azure(self, request: Request) -> Response:
        if "api-version" not in request.query_params:
            return _error(404, "Resource not found")
        return await self._answer(request, request.headers.get("api-key") == self.api_key)

    async def _answer(self, request: Request, authorized: bool) -> Response:
        body = await request.json()
        self.requests.append(
            SeenRequest(request.url.path, dict(request.query_params), dict(request.headers), body)
        )
        if not authorized:
            return _error(
                401, "Incorrect API key provided. You can find your API key in your account."
            )
        reply = self._take()
        if reply.delay:
            with anyio.move_on_after(reply.delay):
                await self._closing.wait()
        if reply.status != 200:
            return _error(reply.status, reply.error_message or "scripted error", reply.headers)
        model = reply.model or body.get("model") or "wire-model"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._chunks(reply, model, include_usage),
                media_type="text/event-stream",
                headers=dict(reply.headers),
            )
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
                "system_fingerprint": None,
            },
            headers=dict(reply.headers),
        )

    async def _chunks(self, reply: Reply, model: str, include_usage: bool) -> AsyncIterator[str]:
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())

        def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
            chunk: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            if include_usage:
                chunk["usage"] = usage
            return f"data: {json.dumps(chunk)}\n\n"

        yield event(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        pieces = [
            reply.content[i : i + reply.chunk_size]
            for i in range(0, len(reply.content), reply.chunk_size)
        ]
        for number, piece in enumerate(pieces):
            if reply.stall_after is not None and number >= reply.stall_after:
                await self._closing.wait()
                return
            yield event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        if reply.stream_error is not None:
            error = {
                "error": {
                    "message": reply.stream_error,
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            yield f"data: {json.dumps(error)}\n\n"
            return
        yield event([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])
        if include_usage:
            yield event(
                [],
                {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            )
        yield "data: [DONE]\n\n"


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    kind, code = _ERROR_TYPES.get(status, ("server_error", None))
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status_code=status,
        headers=dict(headers or {}),
    )


@asynccontextmanager
async def openai_wire_server(
    *replies: Reply, api_key: str = "sk-test-key"
) -> AsyncIterator[OpenAIWire]:
    """Serve an :class:`OpenAIWire` on a free loopback port; ``wire.base_url`` ends in ``/v1``."""
    wire = OpenAIWire(replies, api_key)
    async with serve_asgi(wire.app) as base:
        wire.base_url = f"{base}/v1"
        try:
            yield wire
        finally:
            wire._closing.set()
