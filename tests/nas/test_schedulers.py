"""Schedulers: MO-ASHA and Hyperband decisions against a brute-force reference, options."""

from __future__ import annotations

import collections
import itertools
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


def _brute_scaled(points, idx):
    m = len(points[0])
    lo = [min(p[j] for p in points) for j in range(m)]
    span = [(max(p[j] for p in points) - lo[j]) or 1.0 for j in range(m)]
    return {i: [(points[i][j] - lo[j]) / span[j] for j in range(m)] for i in idx}


def _brute_epsnet(points, idx):
    """Farthest-first by brute force: objectives scaled by their range over all points; start
    at the point smallest in the first objective (then the others, then earlier); then, one by
    one, the point farthest from its nearest taken point (ties, up to float rounding: earlier)."""
    z = _brute_scaled(points, idx)
    taken = [min(idx, key=lambda i: (*z[i], i))]
    while len(taken) < len(idx):
        gap = {i: min(math.dist(z[i], z[t]) for t in taken) for i in idx if i not in taken}
        far = max(gap.values())
        taken.append(min(i for i in gap if gap[i] >= far - 1e-12))  # the earliest of the (near-)farthest
    return taken


def _inclusion_exclusion_hv(boxes, ref=1.1):
    """Volume of the union of the boxes [z, ref]: the sum over every non-empty subset of
    (-1)^(size + 1) times the volume of its intersection (the box of the largest corner)."""
    total = 0.0
    for k in range(1, len(boxes) + 1):
        for sub in itertools.combinations(boxes, k):
            total += (-1) ** (k + 1) * math.prod(ref - max(z[j] for z in sub) for j in range(len(sub[0])))
    return total


def _brute_hypervolume(points, idx):
    """Greedy by brute force: the point adding the most union volume to those taken (ties,
    up to float rounding: earlier)."""
    z = _brute_scaled(points, idx)
    taken = []
    while len(taken) < len(idx):
        base = _inclusion_exclusion_hv([z[t] for t in taken])
        gain = {i: _inclusion_exclusion_hv([z[t] for t in taken] + [z[i]]) - base for i in idx if i not in taken}
        best = max(gain.values())
        taken.append(min(i for i in gain if gain[i] >= best - 1e-12))
    return taken


def _brute_order(points, tie_break):
    level = _brute_levels(points)
    order = []
    for k in sorted(set(level.values())):
        idx = [i for i in range(len(points)) if level[i] == k]
        if tie_break == "epsnet":
            order += _brute_epsnet(points, idx)
        elif tie_break == "hypervolume":
            order += _brute_hypervolume(points, idx)
        else:
            crowd = _brute_crowding(points, idx)
            order += sorted(idx, key=lambda i: (-crowd[i], i))
    return order


def _brute_continue(points, eta, tie_break="epsnet"):
    """The last point continues when it ranks in the top n // eta, or first while n < eta."""
    n = len(points)
    order = _brute_order(points, tie_break)
    return order.index(n - 1) < (n // eta if n >= eta else 1)


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


def _reference(params, rung_list, eta, bracket_of=lambda n: 0, tie_break="epsnet"):
    """Brute force: replay arrivals, at each rung rank the trial among earlier arrivals (same bracket)."""
    reached = {}
    stopped_at = {}
    for n in range(len(params)):
        for r in rung_list[bracket_of(n) :]:
            key = (bracket_of(n), r)
            reached.setdefault(key, []).append(n)
            points = [[_curve(*params[i], r)["err"], -_curve(*params[i], r)["acc"]] for i in reached[key]]
            if not _brute_continue(points, eta, tie_break):
                stopped_at[n] = r
                break
    return stopped_at


@pytest.mark.parametrize(
    ("seed", "tie_break"), [(0, None), (1, None), (7, None), (7, "crowding"), (7, "hypervolume")]
)
def test_moasha_stops_exactly_the_trials_nondominated_sorting_says(tmp_path, seed, tie_break):
    rng = np.random.default_rng(seed)
    params = [tuple(map(float, rng.random(2).round(3))) for _ in range(30)]
    spec = {"name": "moasha", "max_step": 9, "eta": 3} | ({"tie_break": tie_break} if tie_break else {})
    got = _run_through_store(f"sqlite:///{tmp_path}/a.db", spec, params, 9)
    want = _reference(params, rungs(1, 9, 3), 3, tie_break=tie_break or "epsnet")
    assert got == want
    assert set(got.values()) <= {1, 3} and 0 < len(got) < len(params)
    if seed == 7:  # on these curves the three tie-breaks stop different trials (13 and 20 at rung 3)
        for other in {"epsnet", "crowding", "hypervolume"} - {tie_break or "epsnet"}:
            assert got != _reference(params, rungs(1, 9, 3), 3, tie_break=other)


def _run_promoting_through_store(url: str, scheduler_spec: dict, params: list[tuple[float, float]], max_step: int):
    """As an executor runs a study with ``promote``: a queued (promoted) trial, oldest first,
    before a new one; each run steps from 1 until told to stop. Returns each run's
    ``(trial number, last step, state at its end)``."""
    store = Store(url)
    info, _ = store.create_study(
        f"s-{uuid.uuid4().hex[:8]}", "{}", "h", 100, [ObjectiveInfo("err", "min"), ObjectiveInfo("acc", "max")]
    )
    sched = make_scheduler(scheduler_spec["name"], {k: v for k, v in scheduler_spec.items() if k != "name"}, OBJS)
    log, new = [], iter(params)
    while (claimed := store.claim_pending(info.id, 1, "w")) or (p := next(new, None)) is not None:
        (t,) = claimed or store.create_trials(info.id, [{"q": p[0], "w": p[1]}], state=TrialState.RUNNING)
        q, w = t.params["q"], t.params["w"]
        for step in range(1, max_step + 1):
            if not store.add_step(t.id, step, _curve(q, w, step), sched.decide, sched.promotable):
                t = store.stop_trial(t.id, promote=sched.promotable)
                break
        else:
            t = store.complete_trial(t.id, _curve(q, w, max_step))
        log.append((t.number, step, t.state.value))
    return log


def _reference_promoting(params, rung_list, eta, max_step):
    """Brute force of the same runs: a stop is kept only while the trial stays out of the top
    max(1, n // eta) of its rung's reports; every report or stop at a rung re-checks them all."""
    reports: dict[int, list[int]] = {r: [] for r in rung_list}
    decided: dict[tuple[int, int], bool] = {}
    stopped_at: dict[int, int] = {}
    queue: list[int] = []

    def in_top(r, m):
        points = [[_curve(*params[i], r)["err"], -_curve(*params[i], r)["acc"]] for i in reports[r]]
        order = _brute_order(points, "epsnet")
        return order.index(reports[r].index(m)) < max(1, len(points) // eta)

    def promote(r):
        for m in sorted(k for k, v in stopped_at.items() if v == r):
            if in_top(r, m):
                del stopped_at[m]
                decided[(m, r)] = True
                queue.append(m)
        queue.sort()

    log, new = [], iter(range(len(params)))
    while queue or (n := next(new, None)) is not None:
        n = queue.pop(0) if queue else n
        state = "COMPLETE"
        for step in range(1, max_step + 1):
            if step not in reports:
                continue
            if (n, step) not in decided:
                reports[step].append(n)
                decided[(n, step)] = in_top(step, n)
                promote(step)
            if not decided[(n, step)]:
                stopped_at[n], state = step, "STOPPED"
                promote(step)
                break
        log.append((n, step, "PENDING" if state == "STOPPED" and n not in stopped_at else state))
    return log


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_promote_runs_again_exactly_the_stopped_trials_that_later_rank_in_the_top(tmp_path, seed):
    rng = np.random.default_rng(seed)
    params = [tuple(map(float, rng.random(2).round(3))) for _ in range(30)]
    spec = {"name": "moasha", "max_step": 9, "eta": 3, "promote": True}
    got = _run_promoting_through_store(f"sqlite:///{tmp_path}/p.db", spec, params, 9)
    assert got == _reference_promoting(params, rungs(1, 9, 3), 3, 9)
    runs = collections.Counter(n for n, _, _ in got)
    assert max(runs.values()) > 1  # some trial was promoted and ran again
    assert max(runs.values()) <= len(rungs(1, 9, 3)) + 1  # at most once more per rung
    final = {n: state for n, _, state in got}
    plain = _run_through_store(f"sqlite:///{tmp_path}/q.db", {k: v for k, v in spec.items() if k != "promote"},
                               params, 9)
    # a trial the stopping rule ends early runs to max_step once promoted (arrivals shift, so
    # the rest of the sets may differ both ways)
    assert {n for n, s in final.items() if s == "COMPLETE"} - (set(range(30)) - set(plain))


@pytest.mark.parametrize(("second", "stopped_at"), [((0.1, 0.1), {1: 1}), ((0.9, 0.9), {1: 3}), ((0.1, 0.9), {})])
def test_while_fewer_than_eta_reached_a_rung_only_the_first_ranked_continues(tmp_path, second, stopped_at):
    # eta 3, two trials: at each rung trial 0 is alone (it continues) and trial 1 is the
    # second report, which continues only when it ranks first. At step 1 every error is 1.0:
    # (0.1, 0.1) is dominated there; (0.9, 0.9) dominates at step 1 but at step 3 has the
    # higher error of a front of two, which the epsilon-net takes second; (0.1, 0.9)
    # dominates at both rungs. (Before, the first eta - 1 reports always continued.)
    spec = {"name": "moasha", "max_step": 9, "eta": 3}
    got = _run_through_store(f"sqlite:///{tmp_path}/f.db", spec, [(0.5, 0.5), second], 9)
    assert got == stopped_at == _reference([(0.5, 0.5), second], rungs(1, 9, 3), 3)


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
    assert rank_order(Y, "crowding") == [0, 3, 1, 4, 2]


def test_rank_order_epsilon_net_by_hand():
    Y = np.array([[0.0, 1.0], [0.5, 0.5], [0.6, 0.6], [1.0, 0.0], [0.5, 0.5], [0.1, 0.8]])
    # level 0: rows 0, 1, 3, 4, 5 (row 2 is dominated by 1); ranges are already [0, 1].
    # Row 0 has the smallest error; row 3 is farthest from it (1.41); then rows 1 and 4 (0.71
    # from both, 1 arrived first) before row 5 (0.22 from row 0); the duplicate 4 is 0 from 1.
    assert rank_order(Y) == [0, 3, 1, 5, 4, 2]
    # crowding distance ranks row 5 (1.0) before row 1 (0.9): the two rules differ here
    assert rank_order(Y, "crowding") == [0, 3, 5, 1, 4, 2]


def test_rank_order_greedy_hypervolume_by_hand():
    Y = np.array([[0.0, 1.0], [0.5, 0.5], [0.6, 0.6], [1.0, 0.0], [0.5, 0.5], [0.1, 0.8]])
    # Reference 1.1 in both. Alone, row 1 dominates 0.6 x 0.6 = 0.36, more than row 5 (1.0 x
    # 0.3), rows 0 and 3 (1.1 x 0.1). Beside row 1, row 5 adds 0.30 - 0.18 = 0.12, rows 0 and
    # 3 add 0.05; beside both, row 3 still adds 0.05 and row 0 only 0.01 (0.1 x 0.1); the
    # duplicate 4 adds nothing; row 2 is in level 1. The extremes 0 and 3, first under the
    # other two rules, come after rows 1 and 5 here.
    assert rank_order(Y, "hypervolume") == [1, 5, 3, 0, 4, 2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 5), min_size=2, max_size=2), min_size=1, max_size=15),
    st.sampled_from(["epsnet", "crowding", "hypervolume"]),
)
def test_rank_order_equals_brute_force(raw, tie_break):
    assert rank_order(np.array(raw, dtype=float), tie_break) == _brute_order(raw, tie_break)


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
        (
            {"name": "moasha", "max_step": 9, "tie_break": "hv"},
            r"tie_break='hv': Input should be 'epsnet', 'crowding' or 'hypervolume'",
        ),
        ({"name": "moasha", "max_step": 9, "promote": "yes"}, r"promote='yes': Input should be a valid boolean"),
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


@pytest.mark.parametrize("name", ["moasha", "hyperband"])
def test_hypervolume_tie_break_is_refused_beyond_two_objectives_naming_them(name):
    spec = _spec(name=name, max_step=9, tie_break="hypervolume")
    spec["objectives"] = [{"name": "err"}, {"name": "size"}, {"name": "latency"}]
    with pytest.raises(SpecError, match=r"tie_break='hypervolume' ranks two objectives, .* 3 \(err, size, latency\)"):
        validate_study_spec(spec)
    spec["objectives"] = spec["objectives"][:2]
    validate_study_spec(spec)  # two are fine
    with pytest.raises(ValueError, match="two objectives, not 3"):
        rank_order(np.zeros((2, 3)), "hypervolume")
    assert rank_order(np.array([[2.0], [1.0], [1.0]]), "hypervolume") == [1, 2, 0]  # one: by value, then arrival
