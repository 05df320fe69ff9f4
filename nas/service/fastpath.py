"""Answer fresh cached Pareto reads at the ASGI level, before FastAPI's routing.

``GET /studies/{name}/pareto`` is what dashboards and other programs poll. Its body is
cached (:class:`~nas.service.cache.TTLCache`); when the cache holds the bytes, routing the
request through FastAPI (dependencies, query validation, the response class) costs more
than a read of the cache itself, and under many clients that cost becomes queueing delay.
This layer sends the cached body directly (an expired one while the cache refreshes it in
the background, see :meth:`~nas.service.cache.TTLCache.serve`). Anything else — another path,
another query string, nothing cached — goes to the app unchanged, which computes the body
and fills the cache. It sits inside :class:`~nas.service.security.GuardMiddleware`, so a read
that needs the token is checked before it gets here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nas.service.security import ASGIApp, Receive, Scope, Send

_PARETO = re.compile(r"^/studies/([^/]+)/pareto$")
#: Query strings the fast path understands, and the cache entry and media type each reads.
_FORMATS: dict[bytes, tuple[str, bytes]] = {
    b"": ("pareto.json", b"application/json"),
    b"format=json": ("pareto.json", b"application/json"),
    b"format=csv": ("pareto.csv", b"text/csv; charset=utf-8"),
}


def cached_read(scope: Scope, serve: Callable[[tuple[str, str]], Any]) -> tuple[bytes, bytes] | None:
    """``(body, media type)`` of the cached Pareto read this request asks for, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    m = _PARETO.match(scope["path"])
    fmt = _FORMATS.get(scope.get("query_string", b""))
    if m is None or fmt is None:
        return None
    hit = serve((m.group(1), fmt[0]))
    if hit is None:
        return None
    return (hit.encode() if isinstance(hit, str) else hit), fmt[1]


class CachedReads:
    """ASGI middleware: cached Pareto bodies straight from the cache; the rest to ``app``."""

    def __init__(self, app: ASGIApp, serve: Callable[[tuple[str, str]], Any]) -> None:
        self.app, self.serve = app, serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = cached_read(scope, self.serve)
        if hit is None:
            await self.app(scope, receive, send)
            return
        body, media = hit
        headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
