"""The `promptcraft` command, run as a real process the way an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTCRAFT_", "JWT_"))}
    env.update({"PROMPTCRAFT_DATA_DIR": str(data_dir), **extra})
    return env


def _cli(
    data_dir: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptcraft", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(data_dir, **extra),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_an_operator_adds_lists_disables_users_and_issues_tokens(tmp_path: Path) -> None:
    added = _cli(
        tmp_path,
        "users",
        "add",
        "ada",
        "--password-stdin",
        "--role",
        "approver",
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    assert "added ada (approver)" in added.stdout

    listed = _cli(tmp_path, "users", "list")
    assert listed.stdout.split("\t")[:3] == ["ada", "approver", "active"]

    token = _cli(tmp_path, "token", "ada", "--hours", "1")
    assert token.returncode == 0, token.stderr
    assert token.stdout.count(".") == 2

    key = _cli(tmp_path, "users", "api-key", "ada", "--label", "ci")
    assert key.stdout.startswith("pc_")
    assert "shown once" in key.stderr

    disabled = _cli(tmp_path, "users", "disable", "ada")
    assert "ada is now disabled" in disabled.stdout
    refused = _cli(tmp_path, "token", "ada")
    assert refused.returncode == 2
    assert "disabled" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_short_password_is_refused_with_the_rule(tmp_path: Path) -> None:
    result = _cli(tmp_path, "users", "add", "ada", "--password-stdin", stdin="short\n")
    assert result.returncode == 2
    assert "at least 12" in result.stderr


def test_a_placeholder_jwt_secret_refuses_to_start_with_how_to_fix_it(tmp_path: Path) -> None:
    result = _cli(
        tmp_path,
        "users",
        "list",
        PROMPTCRAFT_JWT_SECRET="your-super-secret-jwt-key-change-in-production",
    )
    assert result.returncode == 2
    assert "placeholder" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_store_url_names_the_setting(tmp_path: Path) -> None:
    result = _cli(tmp_path, "users", "list", PROMPTCRAFT_STORE_URL="postgres://nope")
    assert result.returncode == 2
    assert "PROMPTCRAFT_STORE_URL" in result.stderr


def test_an_unreachable_redis_names_the_setting(tmp_path: Path) -> None:
    result = _cli(
        tmp_path, "users", "list", PROMPTCRAFT_STORE_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert result.returncode == 2
    assert "PROMPTCRAFT_STORE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_answers_health_within_20_seconds(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptcraft", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(tmp_path / "data"),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        response = None
        while time.monotonic() - started < 20:
            try:
                response = httpx2.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert response is not None, (tmp_path / "serve.log").read_text()
        assert response.status_code == 200
        assert response.json()["store"]["backend"] == "sqlite"
        assert (tmp_path / "data" / "promptcraft.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_a_bad_log_level_is_a_clear_setting_error(tmp_path: Path) -> None:
    result = _cli(tmp_path, "users", "list", PROMPTCRAFT_LOG_LEVEL="verbose")
    assert result.returncode == 2
    assert "PROMPTCRAFT_LOG_LEVEL" in result.stderr and "DEBUG" in result.stderr
    assert "Traceback" not in result.stderr
