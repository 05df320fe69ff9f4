"""Schedulers: MO-ASHA and Hyperband decisions against a brute-force reference, options."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.schedulers import SchedulerError, make_scheduler
from nas.schedulers._rank import nondominated_levels, rank_order
from nas.schedulers.moasha import rungs
from nas.spec import SpecError, validate_study_spec
from storage import ObjectiveInfo, Store, TrialState

OBJS = [("err", "min"), ("acc", "max")]


def _dominates(a, b):
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def _brute_levels(points):
    """Peel Pareto fronts one by one with pairwise checks."""
    left, level, k = set(range(len(points))), {}, 0
    while left:
        front = {i for i in left if not any(_dominates(points[j], points[i]) for j in left if j != i)}
        level.update({i: k for i in front})
        left -= front
        k += 1
    return level


def _brute_crowding(points, idx):
    if len(idx) <= 2:
        return {i: math.inf for i in idx}
    d = {i: 0.0 for i in idx}
    for j in range(len(points[0])):
        s = sorted(idx, key=lambda i: points[i][j])
        lo, hi = points[s[0]][j], points[s[-1]][j]
        d[s[0]] = d[s[-1]] = math.inf
        for a, b, c in zip(s, s[1:], s[2:], strict=False):
            if hi > lo:
                d[b] += (points[c][j] - points[a][j]) / (hi - lo)
    return d


def _brute_continue(points, eta):
    """The last point continues when fewer than eta reached the rung or it ranks in the top n // eta."""
    n = len(points)
    if n < eta:
        return True
    level = _brute_levels(points)
    crowd = {}
    for k in set(level.values()):
        crowd.update(_brute_crowding(points, [i for i in level if level[i] == k]))
    order = sorted(range(n), key=lambda i: (level[i], -crowd[i], i))
    return n - 1 in order[: n // eta]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=2, max_size=3), min_size=1, max_size=20))
def test_nondominated_levels_equal_brute_force_peeling(raw):
    m = len(raw[0])
    points = [row[:m] + [0] * (m - len(row[:m])) for row in raw]
    lv = _brute_levels(points)
    assert nondominated_levels(np.array(points, dtype=float)).tolist() == [lv[i] for i in range(len(points))]


def _curve(q: float, w: float, step: int) -> dict[str, float]:
    """Deterministic learning curves: error falls towards q, accuracy rises towards w."""
    return {"err": q + (1 - q) / step, "acc": w * (1 - 1 / (step + 1))}


def _run_through_store(url: str, scheduler_spec: dict, params: list[tuple[float, float]], max_step: int):
    """Trials one after the other through the store, each stepping until told to stop."""
    store = Store(url)
    info, _ = store.create_study(
        f"s-{uuid.uuid4().hex[:8]}", "{}", "h", 100, [ObjectiveInfo("err", "min"), ObjectiveInfo("acc", "max")]
    )
    sched = make_scheduler(scheduler_spec["name"], {k: v for k, v in scheduler_spec.items() if k != "name"}, OBJS)
    stopped_at = {}
    trials = store.create_trials(info.id, [{"q": q, "w": w} for q, w in params], state=TrialState.RUNNING)
    for t, (q, w) in zip(trials, params, strict=True):
        for step in range(1, max_step + 1):
            if not store.add_step(t.id, step, _curve(q, w, step), sched.decide):
                stopped_at[t.number] = step
                break
    return stopped_at


def _reference(params, rung_list, eta, bracket_of=lambda n: 0):
    """Brute force: replay arrivals, at each rung rank the trial among earlier arrivals (same bracket)."""
    reached = {}
    stopped_at = {}
    for n in range(len(params)):
        for r in rung_list[bracket_of(n) :]:
            key = (bracket_of(n), r)
            reached.setdefault(key, []).append(n)
            points = [[_curve(*params[i], r)["err"], -_curve(*params[i], r)["acc"]] for i in reached[key]]
            if not _brute_continue(points, eta):
                stopped_at[n] = r
                break
    return stopped_at


@pytest.mark.parametrize("seed", [0, 1])
def test_moasha_stops_exactly_the_trials_nondominated_sorting_says(tmp_path, seed):
    rng = np.random.default_rng(seed)
    params = [tuple(map(float, rng.random(2).round(3))) for _ in range(30)]
    got = _run_through_store(f"sqlite:///{tmp_path}/a.db", {"name": "moasha", "max_step": 9, "eta": 3}, params, 9)
    want = _reference(params, rungs(1, 9, 3), 3)
    assert got == want
    assert set(got.values()) <= {1, 3} and 0 < len(got) < len(params)


def test_hyperband_ranks_each_trial_within_its_bracket(tmp_path):
    rng = np.random.default_rng(4)
    params = [tuple(map(float, rng.random(2).round(3))) for _ in range(30)]
    spec = {"name": "hyperband", "min_step": 1, "max_step": 9, "eta": 3}
    got = _run_through_store(f"sqlite:///{tmp_path}/h.db", spec, params, 9)
    want = _reference(params, rungs(1, 9, 3), 3, bracket_of=lambda n: n % 3)
    assert got == want
    assert not any(n % 3 == 2 for n in got)  # the last bracket runs every trial to max_step
    assert any(n % 3 == 1 and s == 3 for n, s in got.items())


def test_rank_order_breaks_ties_by_crowding_then_arrival():
    Y = np.array([[0.0, 1.0], [0.5, 0.5], [0.6, 0.6], [1.0, 0.0], [0.5, 0.5]])
    # level 0: rows 0, 1, 3, 4; extremes 0 and 3 are infinitely crowded, then the duplicate 1 before 4
    assert rank_order(Y) == [0, 3, 1, 4, 2]


def _spec(**scheduler):
    return {
        "name": "mf",
        "space": {"name": "custom", "params": {"x": {"type": "float", "low": 0, "high": 1}}},
        "objectives": [{"name": "err"}],
        "optimizer": {"name": "random"},
        "budget": {"trials": 3},
        "executor": {"name": "local"},
        **({"scheduler": scheduler} if scheduler else {}),
    }


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"name": "moasha", "min_step": 9, "max_step": 9}, "min_step=9 >= max_step=9 makes no rung"),
        ({"name": "moasha", "max_step": 9, "eta": 1}, r"eta=1: Input should be greater than or equal to 2"),
        ({"name": "moasha", "max_step": 9, "etta": 3}, r"etta=3: unknown option; 'moasha' takes"),
        ({"name": "moasha"}, "max_step=.*Field required"),
        ({"name": "asha"}, r"unknown scheduler 'asha': choose one of \['hyperband', 'moasha', 'none'\]"),
    ],
)
def test_bad_scheduler_options_are_refused_naming_the_value(scheduler, message):
    with pytest.raises(SpecError, match=message):
        validate_study_spec(_spec(**scheduler))


def test_the_scheduler_is_part_of_the_study_identity():
    plain, _, _ = validate_study_spec(_spec())
    a, _, _ = validate_study_spec(_spec(name="moasha", max_step=9))
    b, _, _ = validate_study_spec(_spec(name="moasha", max_step=27))
    assert len({plain.spec_hash(), a.spec_hash(), b.spec_hash()}) == 3
    assert "scheduler" not in plain.to_json()  # studies stored before schedulers keep their hash


def test_scheduler_options_error_without_a_spec():
    with pytest.raises(SchedulerError, match="min_step=0"):
        make_scheduler("moasha", {"min_step": 0, "max_step": 3}, OBJS)
