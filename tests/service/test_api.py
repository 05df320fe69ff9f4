"""The HTTP API against a real uvicorn server on a loopback port, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import time

import httpx
import pytest

from nas.service.security import import_paths, module_allowed, token_matches
from nas.study import load_study
from storage import Store
from tests.helpers import zdt_spec
from tests.service.conftest import TOKEN, Server, ThreadServer, settings_for, slow_spec, wait_state


def _stored(server: Server) -> list[str]:
    return [s.name for s in Store(server.settings.storage).list_studies()]


def test_writes_refuse_a_missing_or_wrong_token_and_write_nothing(server: Server, study_name: str) -> None:
    spec = zdt_spec(study_name, trials=3)
    for token, code in ((None, 401), ("wrong-token", 403)):
        with server.client(token) as c:
            assert c.post("/studies", json=spec).status_code == code
            assert c.post("/studies", content=b"{not json").status_code == code  # auth before parsing
            assert c.post(f"/studies/{study_name}/resume").status_code == code
            assert c.post(f"/studies/{study_name}/stop").status_code == code
    with server.client(token="") as c:
        r = c.post("/studies", json=spec, headers={"Authorization": f"Basic {TOKEN}"})
        assert r.status_code == 403  # right secret, wrong scheme
    assert study_name not in _stored(server)
    with server.client() as c:  # a stored, stopped study: refused writes leave it as it is
        assert c.post("/studies", json=slow_spec(study_name, trials=30)).status_code == 201
        assert c.post(f"/studies/{study_name}/stop").status_code == 202
        before = wait_state(c, study_name, {"stopped"})
    with server.client(token=None) as c:
        assert c.post(f"/studies/{study_name}/resume").status_code == 401
        time.sleep(0.5)
        after = c.get(f"/studies/{study_name}").json()
    assert after["state"] == "stopped" and after["counts"] == before["counts"]


def test_malformed_and_oversized_bodies_are_rejected_with_nothing_written(server: Server, study_name: str) -> None:
    with server.client() as c:
        assert c.post("/studies", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        r = c.post("/studies", json={"name": study_name, "space": {"name": "nope"}, "budget": {"trials": 2}})
        assert r.status_code == 422
        assert ["body", "space", "name"] in [d["loc"] for d in r.json()["detail"]]
        assert "nope" in r.text
        r = c.post("/studies", json={"name": study_name, "space": {"name": "synthetic"}})
        assert r.status_code == 422 and ["body", "budget"] in [d["loc"] for d in r.json()["detail"]]
        r = c.post("/studies", json=zdt_spec(study_name, trials=2, optimizer="no-such"))
        assert r.status_code == 422 and ["body", "optimizer", "name"] in [d["loc"] for d in r.json()["detail"]]
        big = zdt_spec(study_name, trials=2)
        big["space"]["options"]["padding"] = "x" * (server.settings.max_body + 10)
        assert c.post("/studies", json=big).status_code == 413

        def chunks():  # no content-length: the limit holds on the streamed bytes too
            yield b'{"name": "' + study_name.encode() + b'", "pad": "'
            for _ in range(64):
                yield b"y" * (server.settings.max_body // 32)
            yield b'"}'

        assert c.post("/studies", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
    assert study_name not in _stored(server)


def test_a_submitted_study_runs_in_the_background_and_reads_back(server: Server, study_name: str) -> None:
    with server.client() as c:
        r = c.post("/studies", json=zdt_spec(study_name, trials=12))
        assert r.status_code == 201, r.text
        assert r.json()["name"] == study_name and r.json()["budget"] == 12
        assert c.post("/studies", json=zdt_spec(study_name, trials=12)).status_code == 409
        done = wait_state(c, study_name, {"complete", "failed"})
        assert done["state"] == "complete" and done["complete"] == 12
    with server.client(token=None) as c:  # reads are open on loopback
        page = c.get(f"/studies/{study_name}/trials", params={"limit": 5, "offset": 5}).json()
        assert page["total"] == 12 and [t["number"] for t in page["trials"]] == [5, 6, 7, 8, 9]
        assert c.get(f"/studies/{study_name}/trials", params={"state": "failed"}).json()["total"] == 0
        assert c.get(f"/studies/{study_name}/trials", params={"state": "bogus"}).status_code == 422
        front = c.get(f"/studies/{study_name}/pareto").json()
        study = load_study(study_name, storage=server.settings.storage)
        assert sorted(t["number"] for t in front) == [t.number for t in study.pareto_front()]
        csv = c.get(f"/studies/{study_name}/pareto", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.splitlines()
        assert lines[0].startswith("number,state,f1,f2") and len(lines) == 1 + len(front)
        hv = c.get(f"/studies/{study_name}/hypervolume").json()
        values = [p["hypervolume"] for p in hv["history"]]
        assert len(values) == 12 and values == sorted(values) and values[-1] > 0
        assert study_name in [s["name"] for s in c.get("/studies").json()]


def test_unknown_studies_are_404_and_names_never_reach_sql_as_text(server: Server) -> None:
    with server.client() as c:
        for path in ("", "/trials", "/pareto", "/hypervolume", "/importance"):
            assert c.get(f"/studies/no-such{path}").status_code == 404
        for path in ("/resume", "/stop"):
            assert c.post(f"/studies/no-such{path}").status_code == 404
        evil = "x' OR '1'='1"
        assert c.get(f"/studies/{evil}/trials").status_code == 404
        assert c.get("/studies").status_code == 200  # the table is still there


def test_stop_then_resume_finishes_exactly_the_budget(server: Server, study_name: str) -> None:
    with server.client() as c:
        assert c.post("/studies", json=slow_spec(study_name, trials=14)).status_code == 201
        deadline = time.monotonic() + 120
        while c.get(f"/studies/{study_name}").json()["complete"] < 3:
            assert time.monotonic() < deadline, "no 3 trials completed in 120 s"
            time.sleep(0.1)
        assert c.post(f"/studies/{study_name}/stop").status_code == 202
        stopped = wait_state(c, study_name, {"stopped", "complete"})
        assert stopped["state"] == "stopped" and 3 <= stopped["complete"] < 14
        assert c.post(f"/studies/{study_name}/stop").status_code == 409  # not running any more
        assert c.post(f"/studies/{study_name}/resume").status_code == 202
        done = wait_state(c, study_name, {"complete", "failed"})
        assert done["state"] == "complete"
        trials = c.get(f"/studies/{study_name}/trials").json()["trials"]
    numbers = [t["number"] for t in trials]
    assert len(numbers) == 14 and len(set(numbers)) == 14
    assert all(t["state"] == "COMPLETE" for t in trials)


def test_imports_off_the_allow_list_are_refused_before_anything_is_imported(server: Server, study_name: str) -> None:
    spec = slow_spec(study_name, trials=2)
    spec["space"]["evaluator"] = "tests.service.forbidden:evaluate"
    with server.client() as c:
        r = c.post("/studies", json=spec)
    assert r.status_code == 403 and "space.evaluator" in r.text and "--allow-module" in r.text
    assert "tests.service.forbidden" not in sys.modules
    assert study_name not in _stored(server)


def test_reads_need_the_token_off_loopback_unless_public(tmp_path, study_name: str) -> None:
    url = f"sqlite:///{tmp_path}/nas.db"
    # Bound to 127.0.0.1 for the test; the rule follows the configured listen address.
    with ThreadServer(settings_for(url, host="0.0.0.0")) as s:
        with s.client(token=None) as c:
            assert c.get("/studies").status_code == 401
            assert c.get("/").status_code == 200  # the page itself holds no data
            assert c.get("/openapi.json").status_code == 200
        with s.client(token="nope") as c:
            assert c.get("/studies").status_code == 403
        with s.client() as c:
            assert c.get("/studies").status_code == 200
    with ThreadServer(settings_for(url, host="0.0.0.0", public_read=True)) as s, s.client(token=None) as c:
        assert c.get("/studies").status_code == 200
        assert c.post("/studies", json=zdt_spec(study_name)).status_code == 401


def test_token_check_and_allow_list_rules() -> None:
    assert token_matches("Bearer abc", "abc") and token_matches("bearer abc", "abc")
    assert not token_matches("Bearer abd", "abc") and not token_matches("Bearer ab", "abc")
    assert not token_matches("abc", "abc") and not token_matches(None, "abc")
    assert module_allowed("pkg.mod", ("pkg",)) and not module_allowed("pkgx.mod", ("pkg",))
    found = list(import_paths({"evaluator": "a.b:f", "options": {"model": "c:g", "problem": "zdt1", "t": "12:30"}}))
    assert found == [("evaluator", "a.b"), ("options.model", "c")]


@pytest.mark.parametrize("path", ["/", "/static/plotly.min.js", "/static/dashboard.js", "/docs"])
def test_the_dashboard_and_its_assets_are_served_by_the_app(server: Server, path: str) -> None:
    r = httpx.get(server.url + path)
    assert r.status_code == 200 and len(r.content) > 200
    if path == "/":
        assert "/static/plotly.min.js" in r.text and "cdn" not in r.text.lower()


def test_importance_is_served_and_refused_below_the_trials_it_needs(server: Server, study_name: str) -> None:
    from nas import create_study

    study = create_study(zdt_spec(study_name, trials=12), storage=server.settings.storage)
    with server.client() as c:
        r = c.get(f"/studies/{study_name}/importance")
        assert r.status_code == 409 and "needs" in r.text  # no completed trial yet
        for t in study.ask(12):
            x = t.params
            study.tell(t, values={"f1": x["x0"], "f2": 1 - x["x0"] + 0.01 * x["x1"]})
        r = c.get(f"/studies/{study_name}/importance", params={"objective": "f1", "samples": 4, "base": 128})
        assert r.status_code == 200, r.text
        (report,) = r.json()
        assert report == study.importance("f1", samples=4, trees=16, base=128)[0].to_json()


def test_cached_pareto_reads_equal_the_apps_and_follow_writes_made_elsewhere(storage_url: str, study_name: str) -> None:
    """Repeated Pareto reads are answered from the cache before FastAPI's routing: the same
    bytes and headers as the app's own answer, and trials told by another process (here
    another Study over the same store) show within the TTL plus one background refresh."""
    from nas import create_study

    study = create_study(zdt_spec(study_name, trials=12), storage=storage_url)

    def tell(n: int) -> None:
        for t in study.ask(n):
            study.tell(t, values={"f1": t.params["x0"], "f2": 1 - t.params["x0"]})

    tell(4)
    with ThreadServer(settings_for(storage_url, cache_ttl_s=0.3)) as s, s.client(token=None) as c:
        for params in ({}, {"format": "json"}, {"format": "csv"}):
            first, again = (c.get(f"/studies/{study_name}/pareto", params=params) for _ in range(2))
            assert first.status_code == again.status_code == 200
            assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
        assert len(c.get(f"/studies/{study_name}/pareto").json()) == 4  # f1 + f2 = 1: all on the front
        tell(4)
        end = time.monotonic() + 10
        while len(c.get(f"/studies/{study_name}/pareto").json()) != 8:
            assert time.monotonic() < end, "the front told elsewhere never showed"
            time.sleep(0.05)
        assert c.get(f"/studies/{study_name}/pareto", params={"format": "xml"}).status_code == 422


def test_cached_pareto_reads_still_need_the_token_off_loopback(storage_url: str, study_name: str) -> None:
    from nas import create_study

    create_study(zdt_spec(study_name, trials=2), storage=storage_url)
    with ThreadServer(settings_for(storage_url, host="0.0.0.0")) as s:
        with s.client() as c:
            assert c.get(f"/studies/{study_name}/pareto").status_code == 200  # now cached
        with s.client(token=None) as c:
            assert c.get(f"/studies/{study_name}/pareto").status_code == 401
