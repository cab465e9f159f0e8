"""Settings of the sequential-thinking server (env prefix ``PROMPTCRAFT_SEQUENTIAL_THINKING_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptcraft.models import ModelSettings, load_model_settings


class SequentialThinkingSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PROMPTCRAFT_SEQUENTIAL_THINKING_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    max_thoughts_per_thread: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Thoughts kept per thread; older ones are dropped (the count keeps rising).",
    )
    max_thought_chars: int = Field(
        default=20_000, ge=1, le=1_000_000, description="Longest accepted thought, in characters."
    )
    max_branches_per_thread: int = Field(
        default=100, ge=1, le=10_000, description="Distinct branch ids one thread may open."
    )
    thread_ttl_minutes: float = Field(
        default=24 * 60,
        gt=0,
        description="A thread untouched this long is forgotten (each thought renews it).",
    )
    planner: Literal["auto", "rules"] = Field(
        default="auto",
        description=(
            "auto: decompose_task asks the configured model (or the client's, via MCP sampling) "
            "and uses the deterministic rules only without one; rules: always the rules."
        ),
    )
    max_goal_chars: int = Field(
        default=8_000, ge=10, le=200_000, description="Longest accepted decompose_task goal."
    )
    max_context_chars: int = Field(
        default=400_000,
        ge=100,
        le=10_000_000,
        description="Largest accepted decompose_task context, as JSON characters.",
    )
    plan_max_tokens: int = Field(
        default=2_000, ge=100, le=32_000, description="Output-token limit of one planning call."
    )
    prompt_code_chars: int = Field(
        default=12_000,
        ge=0,
        le=500_000,
        description="How much of the supplied code the planning prompt quotes.",
    )
    model: ModelSettings = Field(
        default_factory=load_model_settings,
        description="The model (PROMPTCRAFT_MODEL_* settings).",
    )


def load_settings() -> SequentialThinkingSettings:
    return SequentialThinkingSettings()
