"""Schema versions: create a new database at the head revision, upgrade older ones.

Opening a store checks the revision with one query (alembic is imported only when a
migration must actually run). A database at an older revision is refused with the
command that upgrades it: ``nas db upgrade``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

HEAD = "0002"  # keep equal to the newest file in migrations/versions (a test checks)
MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaError(RuntimeError):
    """The database schema is older or newer than this version of the store."""


def current_revision(conn: Connection) -> str | None:
    """The schema revision, or None for a database without our tables (one cheap query)."""
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no alembic_version table yet
        return None


def ensure_schema(write_engine: Engine | None, read_engine: Engine | None = None, where: str = "") -> None:
    """Create the schema in an empty database; refuse one at another revision.

    Without ``write_engine`` (a read-only open) an empty database is refused instead."""
    engine = read_engine or write_engine
    assert engine is not None
    with engine.connect() as conn, conn.begin():
        rev = current_revision(conn)
    if rev == HEAD:
        return
    if rev is None:
        if write_engine is None:
            from storage.store import NoDatabaseError

            raise NoDatabaseError(f"{where or 'the database'} holds no studies yet (it has no nas tables)")
        upgrade(write_engine)
        return
    raise SchemaError(
        f"the database is at schema revision {rev!r}, this version needs {HEAD!r}: "
        "run `nas db upgrade --storage URL` (back it up first)"
    )


def upgrade(write_engine: Engine, revision: str = "head") -> str | None:
    """Run Alembic migrations up to ``revision``; returns the revision reached.

    Runs in one transaction that holds the database's write lock (BEGIN IMMEDIATE on
    SQLite, an advisory lock on PostgreSQL), so concurrent first opens are safe.
    """
    from alembic import command
    from alembic.config import Config

    with write_engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        return current_revision(conn)
