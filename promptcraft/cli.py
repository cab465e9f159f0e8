"""The ``promptcraft`` command: serve, and manage users and tokens."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import anyio

from promptcraft.errors import PromptCraftError
from promptcraft.logging_setup import configure_logging
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import load_core_settings

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptcraft", description="PromptCraft: goals to reviewed, tested code."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service (API, MCP servers) on one port")
    serve.add_argument("--host", help="bind address (default PROMPTCRAFT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PROMPTCRAFT_PORT or 8000)")

    users = sub.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    add = users.add_parser("add", help="add a user (password read from stdin or prompted)")
    add.add_argument("username")
    add.add_argument("--role", action="append", dest="roles", choices=["admin", "approver", "user"])
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    users.add_parser("list", help="list users")
    for name in ("disable", "enable"):
        users.add_parser(name, help=f"{name} a user").add_argument("username")
    key = users.add_parser("api-key", help="create an API key for a user (shown once)")
    key.add_argument("username")
    key.add_argument("--label", default="")

    token = sub.add_parser("token", help="issue a JWT for a user")
    token.add_argument("username")
    token.add_argument(
        "--hours", type=float, help="lifetime (default PROMPTCRAFT_JWT_EXPIRATION_HOURS)"
    )
    token.add_argument("--scope", action="append", default=[], dest="scopes")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise PromptCraftError("the two passwords differ; run the command again")
    return first


async def _with_store(runtime: Runtime, action: Callable[[], Awaitable[None]]) -> None:
    async with runtime.store:
        await action()


def _user_command(runtime: Runtime, args: argparse.Namespace) -> Callable[[], Awaitable[None]]:
    users = runtime.users

    async def add() -> None:
        password = _read_password(args.password_stdin)
        user = await users.add(args.username, password, tuple(args.roles or ["user"]))
        print(f"added {user.username} ({', '.join(user.roles)})")

    async def list_() -> None:
        for user in await users.list():
            state = "disabled" if user.disabled else "active"
            print(f"{user.username}\t{','.join(user.roles)}\t{state}\t{user.created_at}")

    async def toggle() -> None:
        user = await users.set_disabled(args.username, args.action == "disable")
        print(f"{user.username} is now {'disabled' if user.disabled else 'active'}")

    async def api_key() -> None:
        plaintext, key = await users.create_api_key(args.username, args.label)
        print(plaintext)
        print(f"API key {key.key_id} for {key.username}: shown once, store it now", file=sys.stderr)

    return {"add": add, "list": list_, "disable": toggle, "enable": toggle, "api-key": api_key}[
        args.action
    ]


def _token_command(runtime: Runtime, args: argparse.Namespace) -> Callable[[], Awaitable[None]]:
    async def token() -> None:
        await runtime.users.require_active(args.username)
        lifetime = timedelta(hours=args.hours) if args.hours else None
        issued = runtime.tokens.issue(args.username, scopes=tuple(args.scopes), lifetime=lifetime)
        print(issued.token)

    return token


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    configure_logging(logging.INFO)
    try:
        if args.command == "serve":
            from promptcraft.serve import serve

            serve(host=args.host, port=args.port)
            return
        runtime = build_runtime(load_core_settings())
        action = (_user_command if args.command == "users" else _token_command)(runtime, args)
        anyio.run(_with_store, runtime, action)
    except PromptCraftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValueError as exc:  # a malformed setting (pydantic's ValidationError)
        print(f"error: invalid setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
