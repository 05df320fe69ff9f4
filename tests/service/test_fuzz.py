"""Property-based fuzz of the OpenAPI document (schemathesis): no request gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from nas.service import ServiceSettings, create_app
from tests.service.conftest import TOKEN, Server, ThreadServer, settings_for

schema = schemathesis.openapi.from_dict(create_app(ServiceSettings(ray=False)).openapi())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/nas.db"
    with ThreadServer(settings_for(url)) as s:
        yield s


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_finds_no_server_error(case: schemathesis.Case, live: Server) -> None:
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
        response = case.call(base_url=live.url, headers=headers, timeout=30)
        what = f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
        assert response.status_code < 500, what
