"""Settings of the code interpreter (env prefix ``CODE_INTERPRETER_``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mcp_servers.code_interpreter._sandbox_env import default_env_dir

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(value: object) -> object:
    """``"512M"``, ``"1G"``, ``"64k"``, ``"1048576"`` -> bytes (binary units, as ulimit and docker)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", value)
        if not match:
            raise ValueError(f"{value!r} is not a size; write it like 512M, 1G or 65536")
        return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    return value


ByteCount = Annotated[int, BeforeValidator(parse_bytes), Field(gt=0)]
Backend = Literal["bubblewrap", "docker", "unsafe-unsandboxed"]


class CodeInterpreterSettings(BaseSettings):
    """How code runs: which sandbox, which limits, which packages."""

    model_config = SettingsConfigDict(
        env_prefix="CODE_INTERPRETER_", env_file=".env", extra="ignore"
    )

    backend: Backend = Field(
        default="bubblewrap",
        description=(
            "Sandbox: bubblewrap (Linux, default), docker (needs a reachable engine), or "
            "unsafe-unsandboxed, which runs code as a plain process of this server with "
            "resource limits only: never use it for code you did not write."
        ),
    )
    timeout_seconds: float = Field(
        default=30, gt=0, description="Wall-clock limit of execute_code when the caller gives none."
    )
    test_timeout_seconds: float = Field(
        default=60, gt=0, description="Wall-clock limit of run_tests when the caller gives none."
    )
    max_timeout_seconds: float = Field(
        default=300, gt=0, description="Largest timeout_seconds a caller may ask for."
    )
    max_memory: ByteCount = Field(
        default=512 * 2**20,
        description="Memory of one run, all its processes together (e.g. 512M, 1G).",
    )
    max_output_bytes: ByteCount = Field(
        default=1_000_000,
        description="stdout and stderr of one run together; beyond it the run is stopped and its output truncated with a marker.",
    )
    max_processes: int = Field(
        default=64,
        ge=4,
        description=(
            "Processes and threads one run may have at once, the sandbox's own supervising "
            "process included."
        ),
    )
    max_cpus: float = Field(
        default=1.0,
        gt=0,
        le=1024,
        description=(
            "CPU cores one run may use at once, all its processes together (1.0 = one core, "
            "0.5 = half of one): a CFS quota on the run's cgroup (cpu controller, v1 or v2) and "
            "the docker backend's nano_cpus. Without a cpu controller only the per-process CPU "
            "time limit holds."
        ),
    )
    max_open_files: int = Field(default=256, ge=16, description="Open files per process.")
    max_file_size: ByteCount = Field(
        default=64 * 2**20, description="Largest file a run may write (e.g. 64M)."
    )
    max_scratch: ByteCount = Field(
        default=256 * 2**20,
        description="Size of the run's scratch tmpfs (/tmp), its only writable place; also bounds code, files and stdin.",
    )
    allowed_packages: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["numpy", "pandas", "requests", "pytest"],
        description=(
            "Comma-separated packages code may import besides the standard library; installed at "
            "setup by scripts/setup_sandbox_env.sh into the sandbox environment, never at run time."
        ),
    )
    max_concurrent_runs: int = Field(
        default=2, ge=1, description="Runs at once; more wait their turn in arrival order."
    )
    warm_sandboxes: int = Field(
        default=2,
        ge=1,
        le=32,
        description=(
            "Sandboxes kept pre-started per kind of job (code, tests), each waiting for one job "
            "and destroyed after it: nothing passes from one run to the next."
        ),
    )
    sandbox_env_dir: Path | None = Field(
        default=None,
        description=(
            "Where the read-only package environment lives (default <repo>/.sandbox-env in a "
            "checkout, else $PROMPTCRAFT_DATA_DIR/sandbox-env). Every path component must be "
            "readable by the sandbox user."
        ),
    )
    bwrap_path: str = Field(default="bwrap", description="The bubblewrap executable.")
    sandbox_uid: int = Field(
        default=3_000_000,
        ge=1,
        description=(
            "Unprivileged host uid (and gid) the bubblewrap sandboxes run as when this server runs "
            "as root; ignored otherwise (they run as the server's own uid)."
        ),
    )
    cgroup: Literal["auto", "v1", "v2", "none"] = Field(
        default="auto",
        description=(
            "Per-run cgroups for memory and process limits: auto detects v1 or v2; none falls "
            "back to rlimits (RLIMIT_NPROC shared by the unprivileged sandbox user, RLIMIT_AS)."
        ),
    )
    cgroup_root: Path | None = Field(
        default=None,
        description=(
            "cgroup v2 only: a delegated, writable cgroup directory to create run cgroups under "
            "(default: a 'promptcraft-sandbox' group beside this server's own cgroup)."
        ),
    )
    docker_image: str = Field(
        default="python:3.11-slim-bookworm",
        description="Image the docker backend runs (its Python must match the sandbox environment's).",
    )

    @field_validator("allowed_packages", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @property
    def effective_sandbox_env_dir(self) -> Path:
        return (self.sandbox_env_dir or default_env_dir()).expanduser().resolve()


def load_settings(**overrides: object) -> CodeInterpreterSettings:
    return CodeInterpreterSettings(**overrides)  # type: ignore[arg-type]
