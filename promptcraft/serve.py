"""``promptcraft serve``: the one app on one port."""

from __future__ import annotations

import logging

import uvicorn

from gateway.app import create_app
from promptcraft.logging_setup import configure_logging
from promptcraft.runtime import build_runtime
from promptcraft.settings import load_core_settings

logger = logging.getLogger(__name__)


def serve(host: str | None = None, port: int | None = None) -> None:
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = load_core_settings(**overrides)
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    app = create_app(runtime)
    logger.info(
        "serving on http://%s:%s (store: %s)", settings.host, settings.port, runtime.store.backend
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
