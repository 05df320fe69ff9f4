"""The ILP and the Pareto frontier against brute force over every assignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from proxies.bitalloc import (
    AllocationError,
    InfeasibleBudget,
    ilp_allocate,
    ilp_candidates,
    pareto_frontier,
    pick_from_frontier,
    tie_groups,
)

BITS = (2, 4, 8)


def _problem(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """6 layers x 3 widths: Ω falls with bits, costs rise with bits."""
    rng = np.random.default_rng(seed)
    n = rng.integers(50, 500, size=6)[:, None].astype(float)
    trace = rng.lognormal(0, 1.5, size=6)[:, None]
    b = np.array(BITS, dtype=float)[None, :]
    omega = trace * n * 4.0 ** (-b) * rng.uniform(0.5, 1.5, size=(6, 3))
    macs = rng.integers(100, 5000, size=6)[:, None]
    lat = macs * np.array([0.5, 0.5, 1.0])[None, :] + n * b / 8 * rng.uniform(0.5, 2)
    return omega, {"size": n * b, "bops": macs * b * 8, "latency": lat}


def _all_choices(ties: list[list[int]] = ()):
    for c in itertools.product(range(3), repeat=6):
        if all(len({c[i] for i in g}) == 1 for g in ties):
            yield c


def _brute(omega, costs, limits, ties=()):
    best = np.inf
    for c in _all_choices(list(ties)):
        rows = np.arange(6)
        if all(costs[k][rows, c].sum() <= v for k, v in limits.items()):
            best = min(best, omega[rows, c].sum())
    return best


@pytest.mark.parametrize("trial", range(20))
def test_ilp_optimum_equals_brute_force_for_random_limits(trial):
    rng = np.random.default_rng(100 + trial)
    omega, costs = _problem(trial)
    limits = {k: float(rng.uniform(t.min(1).sum(), t.max(1).sum())) for k, t in costs.items()}
    want = _brute(omega, costs, limits)
    if not np.isfinite(want):
        with pytest.raises(InfeasibleBudget, match="least possible"):
            ilp_allocate(omega, BITS, costs, limits)
        return
    got = ilp_allocate(omega, BITS, costs, limits)
    assert got.omega == pytest.approx(want, rel=1e-9)
    assert all(got.costs[k] <= v * (1 + 1e-9) for k, v in limits.items())


def _ranked(omega, costs, limits, floor):
    """Feasible assignments with every width >= ``floor``, by Ω ascending (brute force)."""
    rows, ok = np.arange(6), []
    for c in _all_choices():
        if min(BITS[i] for i in c) >= floor and all(costs[k][rows, c].sum() <= v for k, v in limits.items()):
            ok.append((float(omega[rows, c].sum()), c))
    return sorted(ok)


@pytest.mark.parametrize("trial", range(6))
def test_candidates_are_the_least_omega_assignments_above_each_floor(trial):
    rng = np.random.default_rng(200 + trial)
    omega, costs = _problem(trial)
    limits = {"size": float(rng.uniform(costs["size"].min(1).sum(), costs["size"].max(1).sum()))}
    cands = ilp_candidates(omega, BITS, costs, limits, per_floor=3)
    assert cands[0] == ilp_allocate(omega, BITS, costs, limits)
    assert len({c.choice for c in cands}) == len(cands)
    for floor in BITS:
        ranked = _ranked(omega, costs, limits, floor)
        above = sorted(c.omega for c in cands if min(c.bits) >= floor)
        # the three least-Ω assignments of this floor are all there (others may come from lower floors)
        for want, _ in ranked[:3]:
            assert any(got == pytest.approx(want, rel=1e-9) for got in above)
        assert all(c.costs["size"] <= limits["size"] * (1 + 1e-9) for c in cands)


def test_candidates_exclude_and_floor_errors_are_named():
    omega, costs = _problem(0)
    with pytest.raises(InfeasibleBudget, match="least possible"):
        ilp_candidates(omega, BITS, costs, {"size": 0.5 * costs["size"].min(1).sum()})
    with pytest.raises(AllocationError, match="per_floor=0"):
        ilp_candidates(omega, BITS, costs, {}, per_floor=0)
    with pytest.raises(AllocationError, match="excluded assignment"):
        ilp_allocate(omega, BITS, costs, {}, exclude=[(0, 1)])
    best = ilp_allocate(omega, BITS, costs, {})
    second = ilp_allocate(omega, BITS, costs, {}, exclude=[best.choice])
    assert second.choice != best.choice and second.omega >= best.omega


def test_tied_layers_get_equal_bits_and_the_tied_optimum():
    omega, costs = _problem(3)
    ties = [[0, 3], [3, 5], [1, 2]]
    limits = {"size": float(costs["size"].sum(1).mean() * 0.5 + costs["size"].min(1).sum() * 0.5)}
    got = ilp_allocate(omega, BITS, costs, limits, ties=ties)
    assert got.bits[0] == got.bits[3] == got.bits[5] and got.bits[1] == got.bits[2]
    assert got.omega == pytest.approx(_brute(omega, costs, limits, [[0, 3, 5], [1, 2]]), rel=1e-9)


def test_pareto_frontier_is_monotone_and_contains_every_brute_force_optimum():
    omega, costs = _problem(7)
    front = pareto_frontier(omega, costs["size"], BITS)
    sizes = [a.costs["size"] for a in front]
    omegas = [a.omega for a in front]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert all(a > b for a, b in itertools.pairwise(omegas))
    points = {}
    rows = np.arange(6)
    for c in _all_choices():
        s, o = costs["size"][rows, c].sum(), omega[rows, c].sum()
        points[s] = min(points.get(s, np.inf), o)
    best, brute_front = np.inf, []
    for s in sorted(points):
        if points[s] < best:
            best = points[s]
            brute_front.append((s, points[s]))
    assert [(a.costs["size"], pytest.approx(a.omega)) for a in front] == brute_front


def test_frontier_with_ties_and_pick_under_a_size_limit():
    omega, costs = _problem(9)
    front = pareto_frontier(omega, costs["size"], BITS, ties=[[0, 1]])
    assert all(a.bits[0] == a.bits[1] for a in front)
    limit = float(np.median([a.costs["size"] for a in front]))
    pick = pick_from_frontier(front, limit)
    ilp = ilp_allocate(omega, BITS, {"size": costs["size"]}, {"size": limit}, ties=[[0, 1]])
    assert pick.omega == pytest.approx(ilp.omega)
    with pytest.raises(InfeasibleBudget, match="smallest model"):
        pick_from_frontier(front, 0.0)


def test_bad_inputs_are_named():
    omega, costs = _problem(0)
    with pytest.raises(InfeasibleBudget, match=r"size <= 0 \(least possible"):
        ilp_allocate(omega, BITS, costs, {"size": 0.0})
    with pytest.raises(AllocationError, match="shape"):
        ilp_allocate(omega[:, :2], BITS)
    with pytest.raises(AllocationError, match="no cost table"):
        ilp_allocate(omega, BITS, {}, {"size": 1.0})
    with pytest.raises(AllocationError, match="index"):
        tie_groups(3, [[0, 7]])
    assert tie_groups(5, [[3, 1], [1, 4]]) == [[0], [1, 3, 4], [2]]
