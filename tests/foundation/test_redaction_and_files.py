from __future__ import annotations

import stat

import pytest

from promptcraft.runtime import Runtime
from promptcraft.store._redis import redact_url


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("redis://:s3cretPW@host:6379/0", "s3cretPW"),
        ("redis://user:s3cretPW@host:6379/0", "s3cretPW"),
        ("redis://host/0?password=s3cretPW", "s3cretPW"),
        ("unix:///run/redis.sock?db=0&password=s3cretPW", "s3cretPW"),
    ],
)
def test_redis_urls_lose_their_password_wherever_it_is(url: str, secret: str) -> None:
    redacted = redact_url(url)
    assert secret not in redacted
    assert "***" in redacted


@pytest.mark.anyio
async def test_the_data_dir_and_database_are_private_to_the_owner(runtime: Runtime) -> None:
    data_dir = runtime.settings.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "promptcraft.db").stat().st_mode) == 0o600
