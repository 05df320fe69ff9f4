"""Shared fixtures: a storage URL on SQLite and on PostgreSQL for every storage behaviour.

PostgreSQL is a real server (127.0.0.1:5432, user postgres); each test session works in
a database of its own, dropped at the end. Set NAS_TEST_PG_URL to point elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("NAS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (fails loudly if the server is down)."""
    from sqlalchemy import create_engine, text

    name = f"nas_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # the storage suite must run on PostgreSQL: never skip it silently
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable ({e}); start it (see .ci/run)")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from storage.engine import dispose_all

    dispose_all()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage behaviour runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/nas.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def study_name() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    """One local Ray (4 logical CPUs) shared by every test that needs it, shut down at the end."""
    from nas.executors.ray_session import start_ray, stop_ray

    session = start_ray(num_cpus=4)
    yield session
    stop_ray(session)
