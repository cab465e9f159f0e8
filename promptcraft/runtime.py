"""The core services one process shares: settings, store and identity."""

from __future__ import annotations

from dataclasses import dataclass

from promptcraft.identity.keys import load_signing_keys
from promptcraft.identity.mcp_auth import PromptCraftTokenVerifier
from promptcraft.identity.tokens import TokenService
from promptcraft.identity.users import UserDirectory
from promptcraft.settings import CoreSettings
from promptcraft.store import StateStore, create_store


@dataclass(frozen=True)
class Runtime:
    """Built once per process by the entry point and handed to every service.

    The store is created but not opened: whoever runs the process opens it
    (``async with runtime.store``) before serving.
    """

    settings: CoreSettings
    store: StateStore
    users: UserDirectory
    tokens: TokenService
    verifier: PromptCraftTokenVerifier


def build_runtime(settings: CoreSettings, store: StateStore | None = None) -> Runtime:
    store = store if store is not None else create_store(settings)
    users = UserDirectory(store)
    tokens = TokenService(settings, load_signing_keys(settings), store)
    return Runtime(settings, store, users, tokens, PromptCraftTokenVerifier(tokens, users))
