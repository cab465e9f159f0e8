"""Which model to use and how to reach it (env prefix ``PROMPTCRAFT_MODEL_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptcraft.errors import ConfigurationError
from promptcraft.identity.keys import looks_like_placeholder
from promptcraft.models._types import Price, PriceTable


class ModelPrice(BaseModel):
    input_per_1k: float = Field(ge=0, description="USD per 1,000 input (prompt) tokens.")
    output_per_1k: float = Field(ge=0, description="USD per 1,000 output (completion) tokens.")


def _env(name: str, *more: str) -> AliasChoices:
    return AliasChoices(f"PROMPTCRAFT_MODEL_{name.upper()}", *more, name)


class ModelSettings(BaseSettings):
    """The model every PromptCraft service shares; ``provider=none`` runs without one."""

    model_config = SettingsConfigDict(
        env_prefix="PROMPTCRAFT_MODEL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    provider: Literal["none", "openai", "azure"] = Field(
        default="none",
        description=(
            "none: no model (deterministic fallbacks only); openai: any OpenAI-compatible "
            "endpoint (OpenAI, vLLM, Ollama, llama.cpp server via base_url); azure: Azure OpenAI."
        ),
        validation_alias=_env("provider"),
    )
    base_url: str = Field(
        default="",
        description=(
            "OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama), "
            "http://127.0.0.1:8000/v1 (vLLM, llama.cpp); empty for api.openai.com."
        ),
        validation_alias=_env("base_url", "OPENAI_BASE_URL"),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key (OpenAI or Azure); local servers that need none may leave it unset.",
        validation_alias=_env("api_key", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    model: str = Field(
        default="",
        description="Model name sent to the endpoint (for azure, defaults to the deployment).",
        validation_alias=AliasChoices("PROMPTCRAFT_MODEL_NAME", "PROMPTCRAFT_MODEL_MODEL", "model"),
    )
    azure_endpoint: str = Field(
        default="",
        description="Azure OpenAI resource endpoint, https://<resource>.openai.azure.com/.",
        validation_alias=_env("azure_endpoint", "AZURE_OPENAI_ENDPOINT"),
    )
    azure_api_version: str = Field(
        default="2024-10-21",
        description="Azure OpenAI API version (structured outputs need 2024-08-01-preview or later).",
        validation_alias=_env("azure_api_version", "AZURE_OPENAI_API_VERSION"),
    )
    azure_deployment: str = Field(
        default="",
        description="Azure OpenAI deployment name.",
        validation_alias=_env("azure_deployment", "AZURE_OPENAI_DEPLOYMENT"),
    )
    timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="Longest wait for one complete answer (each attempt); timeouts are not retried.",
        validation_alias=_env("timeout_seconds"),
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries after a 429, a 5xx or a dropped connection, with exponential backoff.",
        validation_alias=_env("max_retries"),
    )
    retry_backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="First backoff delay; doubles per retry (with jitter). Retry-After wins when sent.",
        validation_alias=_env("retry_backoff_seconds"),
    )
    max_backoff_seconds: float = Field(
        default=30,
        ge=0,
        le=600,
        description="Upper bound of one backoff delay, including a server's Retry-After.",
        validation_alias=_env("max_backoff_seconds"),
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description=(
            'Price table as JSON: {"gpt-4o": {"input_per_1k": 0.0025, "output_per_1k": 0.01}}. '
            "Calls to a model without an entry cost 0."
        ),
        validation_alias=_env("prices"),
    )
    structured_output: Literal["json_schema", "json_object", "prompt"] = Field(
        default="json_schema",
        description=(
            "How a JSON schema is enforced: json_schema (OpenAI structured outputs, vLLM, "
            "llama.cpp, Ollama), json_object (JSON mode plus the schema in the prompt), "
            "prompt (schema in the prompt only)."
        ),
        validation_alias=_env("structured_output"),
    )
    max_tokens_parameter: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="Name of the output-limit parameter (OpenAI reasoning models need max_completion_tokens).",
        validation_alias=_env("max_tokens_parameter"),
    )
    sampling: bool = Field(
        default=True,
        description=(
            "With provider=none, use the calling MCP client's model (MCP sampling) when the "
            "client offers it."
        ),
        validation_alias=_env("sampling"),
    )

    @property
    def price_table(self) -> PriceTable:
        return PriceTable(
            {name: Price(p.input_per_1k, p.output_per_1k) for name, p in self.prices.items()}
        )

    @property
    def model_name(self) -> str:
        return self.model or self.azure_deployment

    def check(self) -> None:
        """Raise ConfigurationError naming what is missing or a placeholder for the provider."""
        key = self.api_key.get_secret_value() if self.api_key else ""
        # Phrases only: local servers (Ollama, llama.cpp) accept any short key.
        if key and looks_like_placeholder(key, min_distinct=0):
            raise ConfigurationError(
                "PROMPTCRAFT_MODEL_API_KEY (or AZURE_OPENAI_API_KEY) is a placeholder: "
                "set the real key"
            )
        if self.provider == "openai":
            if not self.model:
                raise ConfigurationError(
                    "PROMPTCRAFT_MODEL_PROVIDER=openai needs PROMPTCRAFT_MODEL_NAME "
                    "(the model to call, e.g. gpt-4o-mini or the name vLLM/Ollama serves)"
                )
            if not self.base_url and not key:
                raise ConfigurationError(
                    "PROMPTCRAFT_MODEL_PROVIDER=openai without PROMPTCRAFT_MODEL_BASE_URL calls "
                    "api.openai.com and needs PROMPTCRAFT_MODEL_API_KEY"
                )
        if self.provider == "azure":
            missing = [
                name
                for name, value in (
                    (
                        "AZURE_OPENAI_ENDPOINT (PROMPTCRAFT_MODEL_AZURE_ENDPOINT)",
                        self.azure_endpoint,
                    ),
                    ("AZURE_OPENAI_API_KEY (PROMPTCRAFT_MODEL_API_KEY)", key),
                    (
                        "PROMPTCRAFT_MODEL_AZURE_DEPLOYMENT (AZURE_OPENAI_DEPLOYMENT)",
                        self.azure_deployment,
                    ),
                )
                if not value
            ]
            if missing:
                raise ConfigurationError(
                    "PROMPTCRAFT_MODEL_PROVIDER=azure needs " + ", ".join(missing)
                )
            if "your-" in self.azure_endpoint:
                raise ConfigurationError(
                    "AZURE_OPENAI_ENDPOINT is a placeholder: set your resource's endpoint"
                )


def load_model_settings(**overrides: object) -> ModelSettings:
    """Build the model settings from the environment (and ``.env``), with explicit overrides."""
    return ModelSettings(**overrides)  # type: ignore[arg-type]
