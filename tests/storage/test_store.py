"""The store's behaviour on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nas.pareto import non_dominated_mask, signs
from storage import HEAD, ObjectiveInfo, SchemaError, Store, StudyExistsError, TrialState, TrialStateError
from storage.engine import get_engine


def _study(store: Store, directions=("min", "min"), budget: int = 100):
    objs = [ObjectiveInfo(f"f{i}", d) for i, d in enumerate(directions)]
    info, created = store.create_study(f"s-{uuid.uuid4().hex[:8]}", "{}", "h", budget, objs)
    assert created
    return info


def _brute_front(values: list[list[float]], directions) -> set[int]:
    Y = np.array(values) * signs(directions)
    return set(np.flatnonzero(non_dominated_mask(Y)).tolist())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    directions=st.lists(st.sampled_from(["min", "max"]), min_size=2, max_size=3),
    raw=st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=1, max_size=25),
)
def test_pareto_flags_equal_brute_force_after_random_tells(storage_url, directions, raw):
    store = Store(storage_url)
    info = _study(store, tuple(directions))
    m = len(directions)
    values = [[float(v) for v in row[:m]] for row in raw]  # small integers: many ties and duplicates
    trials = store.create_trials(info.id, [{"i": i} for i in range(len(values))], state=TrialState.RUNNING)
    for t, v in zip(trials, values, strict=True):
        store.complete_trial(t.id, {f"f{i}": x for i, x in enumerate(v)})
    flagged = {t.number for t in store.trials(info.id, pareto_only=True)}
    assert flagged == _brute_front(values, directions)


def test_infeasible_trials_never_join_the_front(storage_url):
    store = Store(storage_url)
    info = _study(store)
    a, b = store.create_trials(info.id, [{}, {}], state=TrialState.RUNNING)
    store.complete_trial(a.id, {"f0": 0.0, "f1": 0.0}, feasible=False)
    store.complete_trial(b.id, {"f0": 1.0, "f1": 1.0})
    assert [t.number for t in store.trials(info.id, pareto_only=True)] == [b.number]


def test_tell_same_result_twice_is_a_noop_and_a_different_one_raises(storage_url):
    store = Store(storage_url)
    info = _study(store)
    (t,) = store.create_trials(info.id, [{"x": 1}], state=TrialState.RUNNING)
    first = store.complete_trial(t.id, {"f0": 1.0, "f1": 2.0})
    again = store.complete_trial(t.id, {"f0": 1.0, "f1": 2.0})
    assert again.finished_at == first.finished_at
    with pytest.raises(TrialStateError, match="already COMPLETE"):
        store.complete_trial(t.id, {"f0": 1.5, "f1": 2.0})
    with pytest.raises(TrialStateError):
        store.fail_trial(t.id, "late failure")


def test_budget_caps_trial_creation_and_requeued_failures_do_not_count(storage_url):
    store = Store(storage_url)
    info = _study(store, budget=5)
    made = store.create_trials(info.id, [{"i": i} for i in range(8)], state=TrialState.RUNNING, budget=5)
    assert [t.number for t in made] == [0, 1, 2, 3, 4]
    assert store.create_trials(info.id, [{}], budget=5) == []
    store.fail_trial(made[0].id, "evaluation raised")  # a terminal failure still counts
    assert store.budget_left(info.id, 5) == 0


def test_reap_requeues_a_stale_trial_and_gives_up_after_max_retries(storage_url):
    store = Store(storage_url)
    info = _study(store)
    (_t,) = store.create_trials(info.id, [{"x": 3}], state=TrialState.RUNNING, worker_id="elsewhere:1:1")
    assert store.reap(info.id, grace_s=60, is_dead=lambda w: False, max_retries=1) == []
    time.sleep(0.05)
    ((failed, retry),) = store.reap(info.id, grace_s=0.01, is_dead=lambda w: False, max_retries=1)
    assert failed.state == TrialState.FAILED and "no heartbeat" in failed.error
    assert retry.state == TrialState.PENDING and retry.params == {"x": 3} and retry.attempt == 1
    assert store.budget_left(info.id, 100) == 99  # the retry replaces the failed one
    (claimed,) = store.claim_pending(info.id, 5, "w2")
    assert claimed.number == retry.number and claimed.state == TrialState.RUNNING
    ((failed2, retry2),) = store.reap(info.id, grace_s=60, is_dead=lambda w: w == "w2", max_retries=1)
    assert retry2 is None and "worker died" in failed2.error and "gave up" in failed2.error
    assert store.trials(info.id, [TrialState.RUNNING]) == []


def test_heartbeat_refreshes_only_running_trials(storage_url):
    store = Store(storage_url)
    info = _study(store)
    (t,) = store.create_trials(info.id, [{}], state=TrialState.RUNNING)
    assert store.heartbeat(t.id)
    store.complete_trial(t.id, {"f0": 0.0, "f1": 0.0})
    assert not store.heartbeat(t.id)


def test_same_name_with_another_spec_is_refused(storage_url):
    store = Store(storage_url)
    name = f"s-{uuid.uuid4().hex[:8]}"
    objs = [ObjectiveInfo("f0", "min")]
    store.create_study(name, "{}", "hash-a", 10, objs)
    assert store.create_study(name, "{}", "hash-a", 10, objs)[1] is False
    with pytest.raises(StudyExistsError, match=name):
        store.create_study(name, "{}", "hash-b", 10, objs)


def _ask_tell_worker(url: str, study_id: int, n: int, out: mp.Queue) -> None:
    store = Store(url)
    numbers = []
    for i in range(n):
        (t,) = store.create_trials(study_id, [{"i": i}], state=TrialState.RUNNING)
        store.complete_trial(t.id, {"f0": float(i % 7), "f1": float((i * 3) % 5)})
        numbers.append(t.number)
    out.put(numbers)


def test_two_processes_asking_at_once_never_share_a_trial_number(storage_url):
    store = Store(storage_url)
    info = _study(store)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ask_tell_worker, args=(storage_url, info.id, 40, q)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    numbers = got[0] + got[1]
    assert len(numbers) == 80 and len(set(numbers)) == 80
    stored = [t.number for t in store.trials(info.id)]
    assert sorted(stored) == list(range(80))


def test_a_database_at_an_unknown_revision_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    Store(url)
    with get_engine(url, write=True).begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    from storage import store as store_mod

    store_mod._CHECKED.discard(url)
    with pytest.raises(SchemaError, match="nas db upgrade"):
        Store(url)


def test_head_constant_matches_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from storage.migrate import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_json_values_round_trip(storage_url):
    store = Store(storage_url)
    info = _study(store)
    params = {"lr": 1e-3, "op": "conv3", "n": 4, "flag": True}
    (t,) = store.create_trials(info.id, [params], state=TrialState.RUNNING)
    store.complete_trial(t.id, {"f0": 0.5, "f1": -1.0}, metrics={"acc": np.float32(0.5)})
    (back,) = store.trials(info.id)
    assert back.params == params and back.metrics == {"acc": 0.5}
    assert json.loads(json.dumps(back.to_json()))["values"] == {"f0": 0.5, "f1": -1.0}


def test_migrations_build_exactly_the_models_schema(storage_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import Base

    store = Store(storage_url)
    with get_engine(store.url, write=False).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_sixteen_concurrent_tells_keep_the_pareto_flags_exact(pg_url):
    from concurrent.futures import ThreadPoolExecutor

    store = Store(pg_url)
    info = _study(store, ("min", "max"))
    rng = np.random.default_rng(5)
    values = rng.integers(0, 5, (16, 2)).astype(float).tolist()  # ties and duplicates on purpose
    trials = store.create_trials(info.id, [{"i": i} for i in range(16)], state=TrialState.RUNNING)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda tv: store.complete_trial(tv[0].id, {"f0": tv[1][0], "f1": tv[1][1]}),
                      zip(trials, values, strict=True)))
    flagged = {t.number for t in store.trials(info.id, pareto_only=True)}
    assert flagged == _brute_front(values, ("min", "max"))


def test_policy_dominance_agrees_with_the_numpy_rule():
    from nas.pareto import dominates as np_dominates
    from storage.policy import dominates

    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = rng.integers(0, 3, (2, 3)).astype(float)
        assert dominates(a.tolist(), b.tolist()) == np_dominates(a, b)
