"""RFC 9457 problem+json responses: every HTTP error says what happened and what to do."""

from __future__ import annotations

from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"type": type_, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)
