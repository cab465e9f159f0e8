"""Model settings: names people already use, a price table from the environment, and refusals."""

from __future__ import annotations

import pytest

from promptcraft.errors import ConfigurationError
from promptcraft.models import (
    ChatMessage,
    ChatRequest,
    ModelNotConfiguredError,
    create_chat_model,
    load_model_settings,
)

pytestmark = pytest.mark.anyio


def test_the_seeds_azure_variables_configure_the_azure_adapter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTCRAFT_MODEL_PROVIDER", "azure")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "abc123")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2024-08-01-preview")
    monkeypatch.setenv("PROMPTCRAFT_MODEL_AZURE_DEPLOYMENT", "gpt4o-plan")
    settings = load_model_settings()
    assert settings.azure_endpoint == "https://contoso.openai.azure.com/"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "abc123"
    assert settings.azure_api_version == "2024-08-01-preview"
    assert settings.model_name == "gpt4o-plan"
    settings.check()


def test_the_price_table_is_read_as_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PROMPTCRAFT_MODEL_PRICES",
        '{"gpt-4o-mini": {"input_per_1k": 0.00015, "output_per_1k": 0.0006}}',
    )
    monkeypatch.setenv("PROMPTCRAFT_MODEL_NAME", "gpt-4o-mini")
    settings = load_model_settings()
    assert settings.model == "gpt-4o-mini"
    assert settings.price_table.cost("gpt-4o-mini", 10_000, 1_000) == pytest.approx(0.0021)
    assert settings.price_table.cost("unknown", 10, 10) is None


def test_a_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match="input_per_1k"):
        load_model_settings(prices={"m": {"input_per_1k": -1, "output_per_1k": 0}})


def test_openai_without_a_model_name_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="PROMPTCRAFT_MODEL_NAME"):
        create_chat_model(load_model_settings(provider="openai", base_url="http://127.0.0.1:1/v1"))


def test_openai_cloud_without_a_key_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="PROMPTCRAFT_MODEL_API_KEY"):
        create_chat_model(load_model_settings(provider="openai", model="gpt-4o-mini"))


def test_the_seeds_placeholder_key_is_refused() -> None:
    settings = load_model_settings(provider="openai", model="m", api_key="your-api-key")
    with pytest.raises(ConfigurationError, match="placeholder"):
        create_chat_model(settings)


def test_azure_without_endpoint_and_deployment_names_both() -> None:
    settings = load_model_settings(provider="azure", api_key="k")
    with pytest.raises(ConfigurationError) as caught:
        create_chat_model(settings)
    assert "AZURE_OPENAI_ENDPOINT" in str(caught.value)
    assert "PROMPTCRAFT_MODEL_AZURE_DEPLOYMENT" in str(caught.value)


async def test_without_a_model_a_call_fails_naming_the_settings_to_configure() -> None:
    model = create_chat_model(load_model_settings(provider="none"))
    assert model.available is False
    with pytest.raises(ModelNotConfiguredError) as caught:
        await model.complete(ChatRequest([ChatMessage("user", "hi")]))
    assert "PROMPTCRAFT_MODEL_PROVIDER" in str(caught.value)
    await model.aclose()
