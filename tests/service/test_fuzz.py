"""Property-based fuzz of the OpenAPI document (schemathesis): no request gets a 5xx."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from nas.service import ServiceSettings, create_app
from tests.service.conftest import TOKEN, Server, ThreadServer, settings_for

# The document only: an app over a throwaway store (building it opens the store).
_DOC_STORE = f"sqlite:///{tempfile.mkdtemp(prefix='nas-fuzz-doc-')}/doc.db"
schema = schemathesis.openapi.from_dict(create_app(ServiceSettings(storage=_DOC_STORE, ray=False)).openapi())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/nas.db"
    with ThreadServer(settings_for(url)) as s:
        yield s


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_finds_no_server_error(case: schemathesis.Case, live: Server) -> None:
    # With the token, so writes reach validation (test_api checks the refusals without it).
    response = case.call(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    what = f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    assert response.status_code < 500, what
