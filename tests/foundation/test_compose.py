"""compose.yaml cannot run here (no Docker engine); check what can be checked without one."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_promptcraft_on_redis_with_a_health_check() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"redis", "promptcraft"}
    app = services["promptcraft"]
    assert app["environment"]["PROMPTCRAFT_STORE_URL"].startswith("redis://redis:6379")
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "appendonly" in " ".join(services["redis"]["command"])
    assert "/health" in " ".join(app["healthcheck"]["test"])
    # Never hand the host's Docker socket to the service that runs untrusted code.
    assert not any("docker.sock" in str(v) for v in app.get("volumes", []))


def test_the_image_runs_the_same_setup_and_entry_point_as_the_readme() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "bash scripts/setup.sh" in dockerfile
    assert '"serve"' in dockerfile
