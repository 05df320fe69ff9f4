"""Engines for the store: SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout. Write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing on a lock upgrade;
reads use a plain deferred ``BEGIN``. PostgreSQL engines ping pooled connections.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///nas.db"
BUSY_TIMEOUT_MS = 60_000


class StorageURLError(ValueError):
    """The storage URL names a database this store does not support."""


def resolve_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``NAS_STORAGE``, else ``sqlite:///nas.db``.

    ``postgresql://`` and ``postgres://`` are read as ``postgresql+psycopg://``.
    """
    url = url or os.environ.get("NAS_STORAGE") or DEFAULT_URL
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    backend = url.split(":", 1)[0]
    if backend not in ("sqlite", "postgresql+psycopg"):
        raise StorageURLError(
            f"storage URL {url!r} is not supported: use sqlite:///path.db or "
            "postgresql+psycopg://user@host:port/db"
        )
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


_ENGINES: dict[tuple[str, bool, int], Engine] = {}


def get_engine(url: str, write: bool) -> Engine:
    """One engine per (URL, role) per process (a forked child gets its own)."""
    url = resolve_url(url)
    key = (url, write, os.getpid())
    if key not in _ENGINES:
        if is_sqlite(url):
            _ENGINES[key] = _sqlite_engine(url, write)
        else:
            _ENGINES[key] = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return _ENGINES[key]


def _sqlite_engine(url: str, write: bool) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    begin_sql = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


def dispose_all() -> None:
    """Close every pooled connection of this process (tests, shutdown)."""
    for key, engine in list(_ENGINES.items()):
        engine.dispose()
        del _ENGINES[key]
