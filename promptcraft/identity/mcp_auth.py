"""The bridge from our identity to the MCP SDK: one verifier for JWTs and API keys."""

from __future__ import annotations

from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from promptcraft.errors import AuthenticationError
from promptcraft.identity.tokens import TokenService
from promptcraft.identity.users import API_KEY_PREFIX, UserDirectory


@dataclass(frozen=True)
class Caller:
    """Who made the current MCP request, as our own type."""

    username: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]


class PromptCraftTokenVerifier:
    """Accepts our JWTs and API keys; the user behind either must exist and be active."""

    def __init__(self, tokens: TokenService, users: UserDirectory) -> None:
        self._tokens = tokens
        self._users = users

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            if token.startswith(API_KEY_PREFIX):
                user = await self._users.verify_api_key(token)
                scopes: tuple[str, ...] = ()
                expires_at = None
            else:
                claims = await self._tokens.verify(token)
                user = await self._users.require_active(claims.subject)
                scopes = claims.scopes
                expires_at = int(claims.expires_at.timestamp())
        except AuthenticationError:
            return None
        return AccessToken(
            token=token,
            client_id=user.username,
            subject=user.username,
            scopes=list(scopes),
            expires_at=expires_at,
            claims={"roles": list(user.roles)},
        )


def current_caller() -> Caller | None:
    """The authenticated caller of the running MCP request, or None when unauthenticated."""
    token = get_access_token()
    if token is None or token.subject is None:
        return None
    roles = (token.claims or {}).get("roles", [])
    return Caller(token.subject, tuple(str(r) for r in roles), tuple(token.scopes))
