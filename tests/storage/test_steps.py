"""Per-step reports (trial_steps), the STOPPED state and the 0001 -> 0002 migration,
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import text

from storage import HEAD, ObjectiveInfo, StepError, Store, TrialState, TrialStateError, upgrade
from storage.engine import get_engine
from tests.conftest import PG_ADMIN


def _study(store: Store, budget: int = 10):
    objs = [ObjectiveInfo("err", "min"), ObjectiveInfo("size", "min")]
    info, _ = store.create_study(f"s-{uuid.uuid4().hex[:8]}", "{}", "h", budget, objs)
    return info


def test_steps_are_stored_in_order_and_read_back_as_a_curve(storage_url):
    store = Store(storage_url)
    info = _study(store)
    (t,) = store.create_trials(info.id, [{"x": 1}], state=TrialState.RUNNING)
    for step in (1, 2, 5):
        assert store.add_step(t.id, step, {"err": 1.0 / step, "size": 3.0, "lr": 0.1}) is True
    curve = store.steps(t.id)
    assert [c.step for c in curve] == [1, 2, 5]
    assert curve[-1].values == {"err": 0.2, "size": 3.0, "lr": 0.1} and curve[-1].decision is None
    assert store.trials(info.id)[0].last_step == 5


@pytest.mark.parametrize(
    ("step", "values", "message"),
    [
        (2, {"err": 0.1, "size": 1.0}, "step 2 goes backwards"),
        (1, {"err": 0.1, "size": 1.0}, None),  # a stored step is replayed, not an error
        (4, {"err": 0.1}, r"miss objective\(s\) \['size'\]"),
        (4, {"err": float("nan"), "size": 1.0}, "err=nan is not finite"),
        (-1, {"err": 0.1, "size": 1.0}, "step -1 is not an integer"),
    ],
)
def test_bad_steps_are_refused_with_the_value_and_nothing_stored_is_lost(storage_url, step, values, message):
    store = Store(storage_url)
    info = _study(store)
    (t,) = store.create_trials(info.id, [{}], state=TrialState.RUNNING)
    store.add_step(t.id, 1, {"err": 0.5, "size": 1.0})
    store.add_step(t.id, 3, {"err": 0.3, "size": 1.0})
    if message is None:
        assert store.add_step(t.id, step, values) is True
    else:
        with pytest.raises(StepError, match=message):
            store.add_step(t.id, step, values)
    assert [(c.step, c.values["err"]) for c in store.steps(t.id)] == [(1, 0.5), (3, 0.3)]


def test_a_decision_is_stored_with_its_step_and_replayed_without_asking_again(storage_url):
    store = Store(storage_url)
    info = _study(store)
    a, b = store.create_trials(info.id, [{}, {}], state=TrialState.RUNNING)
    seen = []

    def decide(number, step, peers):
        seen.append((number, step, [n for n, _ in peers]))
        return number == a.number  # the first trial continues, the second stops

    assert store.add_step(a.id, 1, {"err": 0.5, "size": 1.0}, decide) is True
    assert store.add_step(b.id, 1, {"err": 0.4, "size": 1.0}, decide) is False
    assert seen == [(a.number, 1, [a.number]), (b.number, 1, [a.number, b.number])]
    assert [c.decision for c in store.steps(b.id)] == ["stop"]
    assert store.add_step(b.id, 1, {"err": 0.4, "size": 1.0}, decide) is False  # replay
    assert len(seen) == 2


def test_stopped_trial_keeps_its_last_step_values_counts_in_the_budget_and_is_never_pareto(storage_url):
    store = Store(storage_url)
    info = _study(store, budget=3)
    a, b = store.create_trials(info.id, [{}, {}], state=TrialState.RUNNING)
    store.add_step(a.id, 1, {"err": 0.9, "size": 1.0})
    store.add_step(a.id, 2, {"err": 0.1, "size": 0.1, "extra": 7})
    stopped = store.stop_trial(a.id, {"eval_s": 1.0})
    assert stopped.state == TrialState.STOPPED and stopped.state.is_finished()
    assert stopped.values == {"err": 0.1, "size": 0.1} and not stopped.is_pareto
    assert stopped.metrics["stopped_at_step"] == 2
    store.complete_trial(b.id, {"err": 0.5, "size": 0.5})  # dominated by the stopped trial's values
    assert [t.number for t in store.trials(info.id, pareto_only=True)] == [b.number]
    assert store.used_trials(info.id) == 2
    with pytest.raises(TrialStateError, match="STOPPED"):
        store.complete_trial(a.id, {"err": 0.1, "size": 0.1})
    with pytest.raises(StepError, match="STOPPED; it takes no more steps"):
        store.add_step(a.id, 3, {"err": 0.1, "size": 0.1})


def test_a_trial_without_steps_cannot_end_stopped(storage_url):
    store = Store(storage_url)
    info = _study(store)
    (t,) = store.create_trials(info.id, [{}], state=TrialState.RUNNING)
    with pytest.raises(TrialStateError, match="reported no step"):
        store.stop_trial(t.id)


@pytest.fixture
def empty_url(storage_url: str) -> Iterator[str]:
    """An empty database on the same backend (the session's PostgreSQL one already holds the schema)."""
    if storage_url.startswith("sqlite"):
        yield storage_url
        return
    from sqlalchemy import create_engine

    from storage.engine import dispose_all

    name = f"nas_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    dispose_all()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_database_written_at_revision_0001_upgrades_with_its_data_intact(empty_url):
    from storage import store as store_mod

    storage_url = empty_url
    engine = get_engine(storage_url, write=True)
    assert upgrade(engine, "0001") == "0001"
    now = datetime(2026, 1, 1)
    with engine.begin() as c:  # rows as the 0001 release wrote them
        c.execute(
            text(
                "INSERT INTO studies (id, name, spec_json, spec_hash, budget, created_at) "
                "VALUES (1, 'old', '{}', 'h', 5, :t)"
            ),
            {"t": now},
        )
        c.execute(
            text(
                "INSERT INTO objectives (study_id, idx, name, direction) VALUES (1, 0, 'err', 'min'), "
                "(1, 1, 'size', 'min')"
            )
        )
        c.execute(
            text(
                "INSERT INTO trials (study_id, number, state, params_json, values_json, attempt, "
                "requeued, created_at, is_pareto, feasible) VALUES (1, 0, 'COMPLETE', '{\"x\": 1}', "
                "'{\"err\": 0.5, \"size\": 2.0}', 0, false, :t, true, true), (1, 1, 'RUNNING', '{}', "
                "NULL, 0, false, :t, false, true)"
            ),
            {"t": now},
        )
    store_mod._CHECKED.discard(storage_url)
    with pytest.raises(Exception, match="nas db upgrade"):
        Store(storage_url)
    assert upgrade(engine) == HEAD == "0002"
    store_mod._CHECKED.discard(storage_url)
    store = Store(storage_url)
    info = store.get_study("old")
    done, running = store.trials(info.id)
    assert done.values == {"err": 0.5, "size": 2.0} and done.params == {"x": 1} and done.is_pareto
    assert store.add_step(running.id, 1, {"err": 0.7, "size": 1.0}) is True
    assert [c.step for c in store.steps(running.id)] == [1]


def _every_stopped(step, peers, stopped):
    return sorted(stopped)


def test_a_promoted_trial_is_queued_again_and_replays_its_stop_as_continue(storage_url):
    store = Store(storage_url)
    info = _study(store, budget=2)
    a, b = store.create_trials(info.id, [{"x": 1}, {"x": 2}], state=TrialState.RUNNING)
    assert store.add_step(a.id, 1, {"err": 0.5, "size": 1.0}, lambda *_: False) is False
    store.stop_trial(a.id, {"eval_s": 1.0})
    seen = []

    def promote(step, peers, stopped):
        seen.append((step, [n for n, _ in peers], stopped))
        return sorted(stopped)

    assert store.add_step(b.id, 1, {"err": 0.9, "size": 1.0}, lambda *_: True, promote) is True
    assert seen == [(1, [a.number, b.number], {a.number})]
    back = store.get_trial(a.id)
    assert back.state == TrialState.PENDING and back.values is None and back.finished_at is None
    assert back.metrics == {"eval_s": 1.0, "promoted_at_steps": [1]}
    assert [(c.step, c.values["err"], c.decision) for c in store.steps(a.id)] == [(1, 0.5, "promoted")]
    assert store.used_trials(info.id) == 2  # a promotion is no new trial
    (claimed,) = store.claim_pending(info.id, 1, "w")
    assert claimed.id == a.id

    def never(*_):
        raise AssertionError("a replayed step asks no scheduler")

    assert store.add_step(a.id, 1, {"err": 0.5, "size": 1.0}, never, never) is True
    assert store.add_step(a.id, 3, {"err": 0.2, "size": 1.0}) is True
    assert [c.step for c in store.steps(a.id)] == [1, 3]


def test_stop_trial_asks_again_about_every_stop_at_its_step(storage_url):
    # Between a trial's stop decision and the end of its evaluation, other drivers' reports
    # may arrive at its rung; stop_trial asks again, so its stop is never kept for good.
    store = Store(storage_url)
    info = _study(store)
    (a,) = store.create_trials(info.id, [{}], state=TrialState.RUNNING)
    store.add_step(a.id, 2, {"err": 0.5, "size": 1.0}, lambda *_: False)
    (b,) = store.create_trials(info.id, [{}], state=TrialState.RUNNING)
    store.add_step(b.id, 2, {"err": 0.5, "size": 1.0}, lambda *_: False)
    assert store.stop_trial(a.id, promote=lambda *_: []).state == TrialState.STOPPED
    got = store.stop_trial(b.id, promote=_every_stopped)
    assert got.state == TrialState.PENDING and got.last_step == 2
    assert store.get_trial(a.id).state == TrialState.PENDING  # every stop at the rung is asked again
    assert [c.decision for c in store.steps(a.id)] == ["promoted"]
