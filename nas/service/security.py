"""Request guards: the bearer token, the body size limit and the import allow-list.

The token and size checks are one ASGI middleware so they run before any body is parsed:
a request without the token is refused (401/403) whatever its body, and nothing is written.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from nas.service.settings import ServiceSettings

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths anyone may read: the dashboard's static page and the API's own description.
OPEN_PATHS = ("/", "/static/", "/docs", "/openapi.json", "/redoc", "/healthz")
_IMPORT_PATH = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):[A-Za-z_][\w.]*$")


def token_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer …`` header against ``token``."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_open_path(path: str) -> bool:
    return path == "/" or any(path.startswith(p) for p in OPEN_PATHS[1:])


class GuardMiddleware:
    """Refuse unauthenticated writes (and reads off loopback), then cap the body size."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        needs_token = method not in SAFE_METHODS or (self.settings.reads_need_token and not is_open_path(path))
        if needs_token:
            header = _header(scope, b"authorization")
            if header is None:
                await _reply(
                    send,
                    401,
                    "missing bearer token: send 'Authorization: Bearer <token>'",
                    {"www-authenticate": "Bearer"},
                )
                return
            if not token_matches(header, self.settings.token):
                await _reply(send, 403, "wrong bearer token")
                return
        length = _header(scope, b"content-length")
        limit = self.settings.max_body
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _reply(send, 413, f"request body over {limit} bytes")
            return
        body = await _read_body(receive, limit)
        if body is None:
            await _reply(send, 413, f"request body over {limit} bytes")
            return
        await self.app(scope, _replay(body, receive), send)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` bytes (chunked uploads too)."""
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            break
        part = msg.get("body", b"")
        size += len(part)
        if size > limit:
            return None
        chunks.append(part)
        if not msg.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the app the body read already, then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


# ---- the import allow-list ----------------------------------------------------------------


def import_paths(data: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every ``module:function`` string in a spec fragment, as ``(field, module)``."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from import_paths(v, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from import_paths(v, f"{where}[{i}]")
    elif isinstance(data, str):
        m = _IMPORT_PATH.match(data.strip())
        if m:
            yield where, m.group(1)


def module_allowed(module: str, allowed: tuple[str, ...]) -> bool:
    """``a.b.c`` is allowed by ``a`` or ``a.b`` or ``a.b.c`` (whole dotted parts only)."""
    return any(module == a or module.startswith(a + ".") for a in allowed)


def refused_imports(space: dict[str, Any], allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    """The ``(field, module)`` pairs in a spec's ``space`` that the allow-list refuses."""
    return [(f"space.{f}", m) for f, m in import_paths(space) if not module_allowed(m, allowed)]
