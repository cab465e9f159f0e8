from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from promptcraft.errors import (
    AuthenticationError,
    ConfigurationError,
    IdentityError,
    UserExistsError,
)
from promptcraft.identity.keys import SECRET_FILE, load_signing_keys
from promptcraft.identity.tokens import TokenService
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings

pytestmark = pytest.mark.anyio


def _secret(runtime: Runtime) -> str:
    return (runtime.settings.data_dir / SECRET_FILE).read_text().strip()


async def test_first_start_generates_a_private_random_signing_secret(runtime: Runtime) -> None:
    path = runtime.settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(_secret(runtime)) >= 32
    # A second start reuses it, so tokens survive restarts.
    again = build_runtime(runtime.settings, runtime.store)
    token = runtime.tokens.issue("ada").token
    assert (await again.tokens.verify(token)).subject == "ada"


@pytest.mark.parametrize(
    "secret",
    ["short-secret", "your-super-secret-jwt-key-change-in-production", "a" * 64],
    ids=["too-short", "seed-placeholder", "one-repeated-character"],
)
def test_a_weak_configured_secret_refuses_to_start_and_says_how_to_make_one(
    core_settings: CoreSettings, secret: str
) -> None:
    settings = core_settings.model_copy(update={"jwt_secret": SecretStr(secret)})
    with pytest.raises(ConfigurationError, match=r"secrets\.token_urlsafe"):
        load_signing_keys(settings)


async def test_a_token_round_trips_with_its_subject_and_scopes(runtime: Runtime) -> None:
    issued = runtime.tokens.issue("ada", scopes=("execute", "analyze"))
    claims = await runtime.tokens.verify(issued.token)
    assert claims.subject == "ada"
    assert claims.scopes == ("execute", "analyze")
    assert claims.jti == issued.claims.jti


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_by_hand(claims: dict[str, object], key: bytes) -> str:
    """PyJWT refuses to sign HS256 with a PEM key, so build the forged token the way an attacker would."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _forge(runtime: Runtime, **changes: object) -> str:
    now = datetime.now(UTC)
    payload: dict[str, object] = {
        "sub": "ada",
        "iss": "promptcraft",
        "aud": "promptcraft",
        "iat": now,
        "exp": now + timedelta(hours=1),
        "jti": "j1",
    }
    payload.update(changes)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, _secret(runtime), algorithm="HS256")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exp": datetime.now(UTC) - timedelta(minutes=5)}, "expired"),
        ({"aud": "someone-else"}, "(?i)audience"),
        ({"iss": "evil"}, "(?i)issuer"),
        ({"jti": None}, "jti"),
        ({"sub": None}, "sub"),
        ({"exp": None}, "exp"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "no-jti", "no-subject", "no-expiry"],
)
async def test_a_token_with_bad_claims_is_refused(
    runtime: Runtime, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(AuthenticationError, match=message):
        await runtime.tokens.verify(_forge(runtime, **changes))


@pytest.mark.parametrize(
    "scope",
    [["hitl:read"], None, 7, {"hitl:read": True}],
    ids=["list", "null", "number", "object"],
)
async def test_a_token_whose_scope_claim_is_not_a_string_is_refused_not_read_as_unscoped(
    runtime: Runtime, scope: object
) -> None:
    token = jwt.encode(
        {**jwt.decode(_forge(runtime), options={"verify_signature": False}), "scope": scope},
        _secret(runtime),
        algorithm="HS256",
    )
    with pytest.raises(AuthenticationError, match="'scope' claim must be one string"):
        await runtime.tokens.verify(token)
    narrowed = _forge(runtime, scope="hitl:read")
    assert (await runtime.tokens.verify(narrowed)).scopes == ("hitl:read",)


async def test_a_token_expired_within_the_leeway_is_still_accepted(runtime: Runtime) -> None:
    token = _forge(runtime, exp=datetime.now(UTC) - timedelta(seconds=5))
    assert (await runtime.tokens.verify(token)).subject == "ada"


async def test_a_token_signed_with_another_key_or_no_algorithm_is_refused(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    claims = {
        "sub": "ada",
        "iss": "promptcraft",
        "aud": "promptcraft",
        "iat": now,
        "exp": now + timedelta(hours=1),
        "jti": "x",
    }
    other = jwt.encode(claims, "another-secret-" + "k" * 40, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (other, unsigned):
        with pytest.raises(AuthenticationError):
            await runtime.tokens.verify(token)


async def test_a_revoked_token_is_refused(runtime: Runtime) -> None:
    issued = runtime.tokens.issue("ada")
    await runtime.tokens.revoke(issued.claims)
    with pytest.raises(AuthenticationError, match="revoked"):
        await runtime.tokens.verify(issued.token)
    assert (await runtime.tokens.verify(runtime.tokens.issue("ada").token)).subject == "ada"


async def test_rs256_keys_sign_and_verify_and_an_hs256_token_made_from_the_public_key_is_refused(
    runtime: Runtime, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "jwt.pem"
    public = tmp_path / "jwt.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = runtime.settings.model_copy(
        update={
            "jwt_algorithm": "RS256",
            "jwt_private_key_file": private,
            "jwt_public_key_file": public,
        }
    )
    tokens = TokenService(settings, load_signing_keys(settings), runtime.store)
    assert (await tokens.verify(tokens.issue("ada").token)).subject == "ada"
    # Algorithm confusion: an HS256 token keyed with the public key must not pass.
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "ada",
        "iss": "promptcraft",
        "aud": "promptcraft",
        "iat": now,
        "exp": now + 3600,
        "jti": "x",
    }
    forged = _hs256_by_hand(claims, public.read_bytes())
    with pytest.raises(AuthenticationError):
        await tokens.verify(forged)


async def test_users_authenticate_with_their_password_only(runtime: Runtime) -> None:
    await runtime.users.add("ada", "correct horse battery", ("approver",))
    user = await runtime.users.authenticate("ada", "correct horse battery")
    assert user.roles == ("approver",)
    with pytest.raises(AuthenticationError):
        await runtime.users.authenticate("ada", "wrong horse battery")
    with pytest.raises(AuthenticationError):
        await runtime.users.authenticate("nobody", "correct horse battery")
    stored = await runtime.store.get("user", "ada")
    assert stored is not None
    assert "correct horse" not in str(stored.data)
    assert str(stored.data["password_hash"]).startswith("$argon2id$")


async def test_bad_user_input_gets_a_clear_refusal(runtime: Runtime) -> None:
    with pytest.raises(IdentityError, match="at least 12"):
        await runtime.users.add("ada", "short")
    with pytest.raises(IdentityError, match="not a valid user name"):
        await runtime.users.add("ada smith", "correct horse battery")
    with pytest.raises(IdentityError, match="unknown roles"):
        await runtime.users.add("ada", "correct horse battery", ("root",))
    await runtime.users.add("ada", "correct horse battery")
    with pytest.raises(UserExistsError):
        await runtime.users.add("ada", "another horse battery")


async def test_a_disabled_user_can_neither_log_in_nor_use_an_api_key(runtime: Runtime) -> None:
    await runtime.users.add("ada", "correct horse battery")
    key, _ = await runtime.users.create_api_key("ada", "ci")
    assert (await runtime.users.verify_api_key(key)).username == "ada"
    await runtime.users.set_disabled("ada", True)
    with pytest.raises(AuthenticationError):
        await runtime.users.authenticate("ada", "correct horse battery")
    with pytest.raises(AuthenticationError):
        await runtime.users.verify_api_key(key)
    assert await runtime.verifier.verify_token(key) is None


async def test_api_keys_are_stored_hashed_and_can_be_revoked(runtime: Runtime) -> None:
    await runtime.users.add("ada", "correct horse battery")
    key, meta = await runtime.users.create_api_key("ada", "ci")
    assert key.startswith("pc_")
    for record in await runtime.store.list_records("api_key"):
        assert key not in str(record.data) and record.key != key
    await runtime.users.revoke_api_key(key)
    with pytest.raises(AuthenticationError, match="revoked"):
        await runtime.users.verify_api_key(key)
    assert meta.username == "ada"


async def test_there_are_no_built_in_users(runtime: Runtime) -> None:
    assert await runtime.users.list() == []


def test_generated_style_random_secrets_are_never_mistaken_for_placeholders(
    core_settings: CoreSettings,
) -> None:
    import secrets

    from promptcraft.identity.keys import check_secret

    for _ in range(20_000):
        check_secret(secrets.token_urlsafe(48))
    check_secret("XXXXyourXXXX" + secrets.token_urlsafe(32))


def test_processes_starting_together_agree_on_one_generated_secret(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path;"
        "from promptcraft.settings import load_core_settings;"
        "from promptcraft.identity.keys import load_signing_keys;"
        "print(load_signing_keys(load_core_settings(data_dir=Path(sys.argv[1]))).signing_key)"
    )
    for trial in range(5):
        data_dir = tmp_path / f"d{trial}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(data_dir)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
        assert len({out.strip() for out, _ in outputs}) == 1
        assert (data_dir / SECRET_FILE).read_text().strip() == outputs[0][0].strip()
        assert not list(data_dir.glob(".jwt_secret.*"))


def test_a_bad_rs256_key_file_refuses_to_start_naming_the_setting(
    core_settings: CoreSettings, tmp_path: Path
) -> None:
    garbage = tmp_path / "jwt.pub"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    settings = core_settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_public_key_file": garbage}
    )
    with pytest.raises(ConfigurationError, match="PROMPTCRAFT_JWT_PUBLIC_KEY_FILE"):
        load_signing_keys(settings)


async def test_revoking_a_token_twice_is_harmless(runtime: Runtime) -> None:
    issued = runtime.tokens.issue("ada")
    await runtime.tokens.revoke(issued.claims)
    await runtime.tokens.revoke(issued.claims)
    with pytest.raises(AuthenticationError, match="revoked"):
        await runtime.tokens.verify(issued.token)


async def test_user_names_with_unicode_look_alikes_are_refused(runtime: Runtime) -> None:
    with pytest.raises(IdentityError, match="not a valid user name"):
        await runtime.users.add("\u0430da", "correct horse battery")  # Cyrillic a
