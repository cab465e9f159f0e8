"""Logging for PromptCraft processes (``promptcraft serve``, ``python -m mcp_servers.X``).

Logs go to stderr (stdio servers keep stdout for the protocol). Two things never reach them:
- URLs our HTTP clients call: httpx2/httpx log every request URL at INFO, and webhook URLs
  (Slack incoming webhooks, response_url) are credentials. Their loggers log from WARNING.
- Secrets in query strings of requests we serve: uvicorn's access log records the path with
  its query, and an e-mail approval link (``/hitl/email/confirm?token=...``) is a credential.
  The access log shows ``/hitl/...`` paths without their query, and the value of any
  token-like parameter (token, access_token, code, key, secret, signature, ...) elsewhere
  as ``[redacted]``.
"""

from __future__ import annotations

import logging
import sys

QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2")
SENSITIVE_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "key",
        "api_key",
        "apikey",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "password",
    }
)
_PRIVATE_PATH_PREFIXES = ("/hitl/",)
_FORMAT = "%(levelname)s %(name)s: %(message)s"


def redact_path(path_with_query: str) -> str:
    """The request target as it may be logged (see the module docstring)."""
    path, sep, query = path_with_query.partition("?")
    if not sep:
        return path_with_query
    if any(prefix in path for prefix in _PRIVATE_PATH_PREFIXES):
        return f"{path}?[redacted]"
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        parts.append(f"{name}=[redacted]" if eq and name.lower() in SENSITIVE_PARAMS else part)
    return f"{path}?{'&'.join(parts)}"


class RedactAccessLog(logging.Filter):
    """On ``uvicorn.access``: its records carry (client, method, path?query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def configure_logging(level: int | str = logging.INFO) -> None:
    """Log to stderr at ``level``; quiet the HTTP clients; redact the access log. Idempotent,
    and it survives uvicorn's own logging setup (dictConfig keeps logger filters)."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=level, format=_FORMAT)
    logging.getLogger().setLevel(level)  # also when an earlier call set up the handler
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactAccessLog) for f in access.filters):
        access.addFilter(RedactAccessLog())
