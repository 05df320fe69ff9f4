"""The read cache: strict reads, stale-while-refresh reads, and drops that win over refreshes."""

from __future__ import annotations

import threading
import time

from nas.service.cache import TTLCache


class Counter:
    """A compute function that returns 1, 2, 3, ... and can be held until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> int:
        self.gate.wait(10)
        self.calls += 1
        return self.calls


def _wait_for(cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


def test_get_computes_once_per_ttl_and_again_after_a_drop() -> None:
    cache, f = TTLCache(60), Counter()
    assert cache.get(("s", "front"), f) == 1 and cache.get(("s", "front"), f) == 1
    cache.drop("other")
    assert cache.get(("s", "front"), f) == 1
    cache.drop("s")
    assert cache.serve(("s", "front")) is None
    assert cache.get(("s", "front"), f) == 2


def test_serve_hands_out_the_expired_value_while_one_background_refresh_runs() -> None:
    cache, f = TTLCache(0.05), Counter()
    cache.get(("s", "front"), f)
    time.sleep(0.06)
    f.gate.clear()  # hold the refresh
    assert [cache.serve(("s", "front")) for _ in range(20)] == [1] * 20
    f.gate.set()
    _wait_for(lambda: cache.peek(("s", "front")) == 2)
    assert f.calls == 2  # twenty expired reads, one refresh
    assert cache.serve(("s", "front")) == 2


def test_a_refresh_that_started_before_a_drop_is_not_stored() -> None:
    cache, f = TTLCache(0.05), Counter()
    cache.get(("s", "front"), f)
    time.sleep(0.06)
    f.gate.clear()
    assert cache.serve(("s", "front")) == 1  # starts a refresh, held at the gate
    cache.drop("s")  # the server records a trial meanwhile
    f.gate.set()
    _wait_for(lambda: f.calls == 2)
    time.sleep(0.02)
    assert cache.serve(("s", "front")) is None  # the pre-drop value was thrown away
    assert cache.get(("s", "front"), f) == 3


def test_a_failed_refresh_stops_serving_the_old_value() -> None:
    cache, calls = TTLCache(0.05), []

    def front() -> str:  # the study is deleted after the first read
        calls.append(1)
        if len(calls) > 1:
            raise KeyError("study deleted")
        return "old"

    cache.get(("s", "front"), front)
    time.sleep(0.06)
    assert cache.serve(("s", "front")) == "old"
    _wait_for(lambda: cache.serve(("s", "front")) is None)


def test_ttl_zero_serves_nothing_from_memory() -> None:
    cache, f = TTLCache(0), Counter()
    assert cache.get(("s", "front"), f) == 1 and cache.get(("s", "front"), f) == 2
    assert cache.serve(("s", "front")) is None


def test_the_fast_path_answers_only_cached_pareto_gets() -> None:
    from nas.service.fastpath import cached_read

    cache = TTLCache(60)
    cache.get(("s", "pareto.json"), lambda: b"[]")

    def scope(path: str, query: bytes = b"", method: str = "GET") -> dict:
        return {"type": "http", "method": method, "path": path, "query_string": query}

    assert cached_read(scope("/studies/s/pareto"), cache.serve) == (b"[]", b"application/json")
    assert cached_read(scope("/studies/s/pareto", b"format=json"), cache.serve) == (b"[]", b"application/json")
    assert cached_read(scope("/studies/s/pareto", b"format=csv"), cache.serve) is None  # not cached yet
    cache.get(("s", "pareto.csv"), lambda: "number\n")
    assert cached_read(scope("/studies/s/pareto", b"format=csv"), cache.serve) == (
        b"number\n",
        b"text/csv; charset=utf-8",
    )
    for other in (
        scope("/studies/s/pareto", b"format=xml"),
        scope("/studies/s/pareto", method="POST"),
        scope("/studies/t/pareto"),
        scope("/studies/s/trials"),
        scope("/studies/s/x/pareto"),
    ):
        assert cached_read(other, cache.serve) is None
