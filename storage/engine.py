"""Engines for the store: SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``: a completed
``tell`` is on disk when it returns, so it survives an OS crash or a power cut (NORMAL
would be faster and only lose the last commits on such a crash; we chose durability).
Write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of
failing on a lock upgrade; reads use a plain deferred ``BEGIN``. A read engine never
creates a file or a directory, and reads a database on a read-only file system as
immutable. PostgreSQL engines ping pooled connections.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///nas.db"
BUSY_TIMEOUT_MS = 60_000
SYNCHRONOUS = "FULL"


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
            f"storage URL {mask_url(url)!r} is not supported: use sqlite:///path.db or "
            "postgresql+psycopg://user@host:port/db"
        )
    if backend == "sqlite" and not url.startswith("sqlite:///"):
        raise StorageURLError(
            f"storage URL {url!r} is malformed: a SQLite URL has three slashes before a relative "
            "path (sqlite:///nas.db) and four before an absolute one (sqlite:////tmp/nas.db)"
        )
    return url


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for every message and log line)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: hide anything between ':' and '@' after the scheme
        head, sep, tail = url.partition("://")
        if sep and "@" in tail:
            cred, _, host = tail.rpartition("@")
            user = cred.split(":", 1)[0]
            return f"{head}://{user}:***@{host}" if ":" in cred else url
        return url


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for memory or another backend)."""
    if not is_sqlite(url):
        return None
    path = make_url(url).database
    return path if path and path != ":memory:" else None


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
    path = sqlite_path(url)
    if path and write:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    if path and not write and not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        # a read-only file system: no lock or -shm file can be made, so read it as immutable
        url = f"sqlite:///file:{os.path.abspath(path)}?mode=ro&immutable=1&uri=true"
    engine = create_engine(url, connect_args=args)
    begin_sql = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        if write:  # persistent in the file; a reader must not try to change it
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
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
