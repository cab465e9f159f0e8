"""Adapter for any OpenAI-compatible chat-completions endpoint, and for Azure OpenAI.

OpenAI, vLLM, Ollama and the llama.cpp server speak the same wire format; only
``base_url`` differs. Azure OpenAI uses its own URL scheme and ``api-key`` header,
which ``AsyncAzureOpenAI`` handles.

Retries are ours (the client's own are switched off) so that the policy is one
place: 429, 5xx and dropped connections are retried up to ``max_retries`` times
with exponential backoff and jitter, a server's ``Retry-After`` taking precedence
(capped at ``max_backoff_seconds``); timeouts, bad credentials and bad requests are
not retried. A streamed answer is never retried once text has reached the caller.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from promptcraft.models._settings import ModelSettings
from promptcraft.models._types import (
    ChatRequest,
    ChatResponse,
    TextCallback,
    Usage,
    parse_json_content,
)
from promptcraft.models.errors import (
    ModelAuthError,
    ModelError,
    ModelRateLimitedError,
    ModelTimeoutError,
    ModelUnavailableError,
)

logger = logging.getLogger(__name__)

_SCHEMA_PROMPT = (
    "Reply with one JSON document and nothing else. It must validate against this JSON Schema:\n"
)


class _Retryable(Exception):
    def __init__(self, error: ModelError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class OpenAIChatModel:
    """A :class:`~promptcraft.models.ChatModel` over the OpenAI chat-completions API."""

    def __init__(self, settings: ModelSettings) -> None:
        settings.check()
        self._settings = settings
        self._model = settings.model_name
        self._prices = settings.price_table
        self._unpriced_warned: set[str] = set()
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self._client: AsyncOpenAI
        if settings.provider == "azure":
            self._client = AsyncAzureOpenAI(
                azure_endpoint=settings.azure_endpoint,
                azure_deployment=settings.azure_deployment,
                api_version=settings.azure_api_version,
                api_key=key,
                timeout=settings.timeout_seconds,
                max_retries=0,
            )
            self._key_setting = "AZURE_OPENAI_API_KEY (or PROMPTCRAFT_MODEL_API_KEY)"
            self._where = f"Azure OpenAI at {settings.azure_endpoint} (AZURE_OPENAI_ENDPOINT)"
        else:
            self._client = AsyncOpenAI(
                # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client needs one.
                api_key=key or "not-needed",
                base_url=settings.base_url or None,
                timeout=settings.timeout_seconds,
                max_retries=0,
            )
            self._key_setting = "PROMPTCRAFT_MODEL_API_KEY"
            self._where = f"{settings.base_url or 'api.openai.com'} (PROMPTCRAFT_MODEL_BASE_URL)"

    @property
    def provider(self) -> str:
        return self._settings.provider

    @property
    def available(self) -> bool:
        return True

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self, request: ChatRequest, *, on_text: TextCallback | None = None
    ) -> ChatResponse:
        kwargs = self._arguments(request)
        settings = self._settings
        attempt = 0
        while True:
            emitted = [False]
            try:
                with anyio.fail_after(settings.timeout_seconds):
                    if on_text is None:
                        return await self._once(kwargs, request)
                    return await self._streamed(kwargs, request, on_text, emitted)
            except (TimeoutError, openai.APITimeoutError) as exc:
                raise ModelTimeoutError(
                    f"{self._where} gave no complete answer within {settings.timeout_seconds:g} s: "
                    "try again, ask for less (max_tokens), or raise PROMPTCRAFT_MODEL_TIMEOUT_SECONDS"
                ) from exc
            except _Retryable as retry:
                if attempt >= settings.max_retries or emitted[0]:
                    raise retry.error from retry
                delay = self._delay(attempt, retry.retry_after)
                attempt += 1
                logger.warning(
                    "model call failed (%s); retry %d of %d in %.2f s",
                    retry.error,
                    attempt,
                    settings.max_retries,
                    delay,
                )
                await anyio.sleep(delay)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        settings = self._settings
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        kwargs: dict[str, Any] = {
            "model": self._model,
            settings.max_tokens_parameter: request.max_tokens,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.json_schema is not None:
            if settings.structured_output == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.schema_name,
                        "schema": dict(request.json_schema),
                        "strict": False,
                    },
                }
            else:
                schema = json.dumps(request.json_schema, separators=(",", ":"))
                messages.insert(0, {"role": "system", "content": _SCHEMA_PROMPT + schema})
                if settings.structured_output == "json_object":
                    kwargs["response_format"] = {"type": "json_object"}
        kwargs["messages"] = messages
        return kwargs

    async def _once(self, kwargs: dict[str, Any], request: ChatRequest) -> ChatResponse:
        with self._translated_errors():
            completion = await self._client.chat.completions.create(**kwargs)
        if not completion.choices:
            raise ModelError(f"{self._where} answered with no choices; check the model name")
        choice = completion.choices[0]
        content = choice.message.content or ""
        usage = completion.usage
        return self._response(
            content,
            request=request,
            model=completion.model or self._model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason,
        )

    async def _streamed(
        self,
        kwargs: dict[str, Any],
        request: ChatRequest,
        on_text: TextCallback,
        emitted: list[bool],
    ) -> ChatResponse:
        parts: list[str] = []
        model = self._model
        input_tokens = output_tokens = 0
        finish_reason: str | None = None
        with self._translated_errors():
            stream = await self._client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            async with stream:
                async for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        input_tokens = chunk.usage.prompt_tokens
                        output_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
                        text = choice.delta.content if choice.delta else None
                        if text:
                            parts.append(text)
                            emitted[0] = True
                            await on_text(text)
        return self._response(
            "".join(parts),
            request=request,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=finish_reason,
        )

    def _response(
        self,
        content: str,
        *,
        request: ChatRequest,
        model: str,
        input_tokens: int,
        output_tokens: int,
        finish_reason: str | None,
    ) -> ChatResponse:
        cost = self._prices.cost(model, input_tokens, output_tokens)
        if cost is None:
            cost = self._prices.cost(self._model, input_tokens, output_tokens)
        if cost is None:
            cost = 0.0
            if model not in self._unpriced_warned and (input_tokens or output_tokens):
                self._unpriced_warned.add(model)
                logger.warning(
                    "model %r has no entry in PROMPTCRAFT_MODEL_PRICES: its calls are counted "
                    "at cost 0",
                    model,
                )
        parsed = parse_json_content(content) if request.json_schema is not None else None
        return ChatResponse(
            content=content,
            parsed=parsed,
            usage=Usage(input_tokens, output_tokens, cost),
            model=model,
            finish_reason=finish_reason,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        settings = self._settings
        if retry_after is not None:
            return min(max(retry_after, 0.0), settings.max_backoff_seconds)
        base: float = settings.retry_backoff_seconds * 2.0**attempt
        return min(base * random.uniform(0.5, 1.0), settings.max_backoff_seconds)  # noqa: S311

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        """Turn the openai package's exceptions into ours (and mark the retryable ones)."""
        try:
            yield
        except openai.APITimeoutError:
            raise  # the caller reports it: it knows the configured timeout
        except openai.OpenAIError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: openai.OpenAIError) -> Exception:
        owner = self
        where = self._where
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return ModelAuthError(
                f"{where} refused the credentials ({exc.status_code}: {_detail(exc)}): "
                f"set a valid key in {owner._key_setting}"
            )
        if isinstance(exc, openai.RateLimitError):
            return _Retryable(
                ModelRateLimitedError(
                    f"{where} is rate-limiting us (429: {_detail(exc)}) after "
                    f"{owner._settings.max_retries} retries: try again later, or raise "
                    "PROMPTCRAFT_MODEL_MAX_RETRIES"
                ),
                _retry_after(exc.response.headers),
            )
        if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            return _Retryable(
                ModelUnavailableError(
                    f"{where} keeps failing ({exc.status_code}: {_detail(exc)}): try again later"
                ),
                _retry_after(exc.response.headers),
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelError(
                f"{where} does not know model {owner._model!r} ({_detail(exc)}): check "
                "PROMPTCRAFT_MODEL_NAME (for azure, PROMPTCRAFT_MODEL_AZURE_DEPLOYMENT)"
            )
        if isinstance(exc, openai.BadRequestError):
            detail = _detail(exc)
            hint = ""
            if "response_format" in detail or "json_schema" in detail:
                hint = (
                    ": this endpoint does not take JSON-schema output; set "
                    "PROMPTCRAFT_MODEL_STRUCTURED_OUTPUT=json_object (or prompt)"
                )
            elif "max_tokens" in detail:
                hint = ": set PROMPTCRAFT_MODEL_MAX_TOKENS_PARAMETER=max_completion_tokens"
            return ModelError(f"{where} rejected the request (400: {detail}){hint}")
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"{where} answered {exc.status_code}: {_detail(exc)}")
        if isinstance(exc, openai.APIConnectionError):
            return _Retryable(
                ModelUnavailableError(
                    f"cannot reach {where}: {exc.__cause__ or exc}; check that it runs and the URL"
                ),
                None,
            )
        if isinstance(exc, openai.APIError):
            # An error event inside a stream: the server gave up mid-answer.
            return _Retryable(
                ModelUnavailableError(f"{where} failed mid-answer: {exc.message}"), None
            )
        return ModelError(f"{where}: {exc}")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    return exc.message


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
