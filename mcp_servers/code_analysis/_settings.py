"""Settings of the code analysis server (env prefix ``PROMPTCRAFT_CODE_ANALYSIS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MOUNT_PATH = "/mcp/code-analysis"


class CodeAnalysisSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PROMPTCRAFT_CODE_ANALYSIS_", env_file=".env", extra="ignore"
    )

    max_input_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="Largest code accepted by analyze_code and the command line, in bytes of UTF-8 (default 1 MiB).",
    )
    analyser_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long ruff (a subprocess) or the bandit worker may take on one input before it is reported as failed.",
    )
    ruff_path: str = Field(
        default="",
        description="Path of the ruff binary; empty uses the one installed with the ruff package.",
    )
    bandit_worker: bool = Field(
        default=True,
        description="Run bandit in one warm worker process beside the other analysers (faster on two or more cores); false runs it in-process.",
    )
    max_concurrent_analyses: int = Field(
        default=4,
        ge=1,
        description="How many analyze_code calls run at once in the server; further calls wait their turn.",
    )


def load_settings() -> CodeAnalysisSettings:
    return CodeAnalysisSettings()
