"""Bit allocation from per-layer sensitivities: the exact HAWQ-V2 Pareto frontier and the
HAWQ-V3 integer linear program.

Inputs are ``L x K`` arrays: ``omega[i, k]`` is the sensitivity of layer ``i`` at the
``k``-th bit-width of ``bit_choices``, and each cost table (size, BOPs, latency) holds the
cost of layer ``i`` at that width. ``ties`` lists groups of layer indices that must share
one bit-width (e.g. layers feeding one residual addition).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


class AllocationError(ValueError):
    """Inconsistent allocation inputs (shapes, ties, unknown budget names)."""


class InfeasibleBudget(AllocationError):
    """No bit assignment meets the limits."""


@dataclass(frozen=True)
class Allocation:
    """One bit assignment: ``choice[i]`` indexes ``bit_choices`` for layer ``i``."""

    choice: tuple[int, ...]
    bits: tuple[int, ...]
    omega: float
    costs: dict[str, float] = field(default_factory=dict)


def tie_groups(n_layers: int, ties: Sequence[Sequence[int]] = ()) -> list[list[int]]:
    """Partition ``range(n_layers)`` into groups that share a width (merging overlapping ties),
    ordered by their first layer."""
    parent = list(range(n_layers))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for group in ties:
        bad = [i for i in group if not 0 <= i < n_layers]
        if bad:
            raise AllocationError(f"tie {list(group)} names layer index(es) {bad}; "
                                  f"valid indices are 0..{n_layers - 1}")
        for i in group[1:]:
            parent[root(i)] = root(group[0])
    groups: dict[int, list[int]] = {}
    for i in range(n_layers):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def ilp_allocate(omega: np.ndarray, bit_choices: Sequence[int],
                 costs: Mapping[str, np.ndarray] | None = None,
                 limits: Mapping[str, float] | None = None,
                 ties: Sequence[Sequence[int]] = (), *, min_bits: int | None = None,
                 exclude: Sequence[Sequence[int]] = ()) -> Allocation:
    """HAWQ-V3: minimise ``Σ_i omega[i, b_i]`` subject to ``Σ_i costs[c][i, b_i] <= limits[c]``
    for every named limit, with tied layers sharing a width; solved exactly by HiGHS
    (``scipy.optimize.milp``) over one-hot binaries ``x[i, k]``.

    ``min_bits`` forbids widths below it; ``exclude`` lists assignments (choice indices per
    layer) the solution must differ from, each by a no-good cut ``Σ_i x[i, c_i] <= L - 1``.
    """
    omega, costs, limits = _check_inputs(omega, bit_choices, costs or {}, limits or {})
    n_layers, k = omega.shape
    cons = [LinearConstraint(np.kron(np.eye(n_layers), np.ones(k)), 1, 1)]
    for name, limit in limits.items():
        scale = max(abs(limit), 1e-30)  # rows in units of the limit keep tolerances relative
        cons.append(LinearConstraint(costs[name].ravel()[None, :] / scale, -np.inf, limit / scale))
    tie_rows = _tie_rows(n_layers, k, ties)
    if len(tie_rows):
        cons.append(LinearConstraint(tie_rows, 0, 0))
    if len(exclude):
        cons.append(LinearConstraint(_no_good_rows(n_layers, k, exclude), -np.inf, n_layers - 1))
    upper = np.ones((n_layers, k))
    if min_bits is not None:
        upper[:, np.asarray(bit_choices) < min_bits] = 0.0
    res = milp(omega.ravel(), constraints=cons, integrality=np.ones(omega.size),
               bounds=Bounds(0, upper.ravel()), options={"mip_rel_gap": 0.0})
    if res.status == 2 or res.x is None:
        if min_bits is not None or len(exclude):
            raise InfeasibleBudget(f"no bit assignment with every width >= {min_bits} outside the "
                                   f"{len(exclude)} excluded one(s) meets the limits")
        raise InfeasibleBudget(_infeasible_message(costs, limits, ties, n_layers))
    if res.status != 0:
        raise AllocationError(f"the ILP solver stopped without an optimum: {res.message}")
    choice = tuple(int(i) for i in np.argmax(res.x.reshape(n_layers, k), axis=1))
    return make_allocation(choice, omega, bit_choices, costs)


def ilp_candidates(omega: np.ndarray, bit_choices: Sequence[int],
                   costs: Mapping[str, np.ndarray] | None = None,
                   limits: Mapping[str, float] | None = None,
                   ties: Sequence[Sequence[int]] = (), per_floor: int = 3) -> list[Allocation]:
    """Distinct near-optimal ILP assignments to check by measurement: for each floor width
    ``f`` in ``bit_choices`` (ascending), the ``per_floor`` assignments of least Ω with every
    width ``>= f`` (each next one by a no-good cut). The first is :func:`ilp_allocate`'s
    optimum; floors that cannot meet the limits contribute nothing.

    Ω is a second-order model of the loss increase and is least trustworthy for the
    coarsest widths; the floors make sure assignments without them are among the candidates.
    """
    if per_floor < 1:
        raise AllocationError(f"per_floor={per_floor} must be >= 1")
    found: list[Allocation] = []
    seen: set[tuple[int, ...]] = set()
    for floor in sorted(bit_choices):
        excluded: list[tuple[int, ...]] = []
        for _ in range(per_floor):
            try:
                a = ilp_allocate(omega, bit_choices, costs, limits, ties, min_bits=floor, exclude=excluded)
            except InfeasibleBudget:
                break
            excluded.append(a.choice)
            if a.choice not in seen:
                seen.add(a.choice)
                found.append(a)
    if not found:  # no floor fits: the plain problem names the limits that cannot be met
        ilp_allocate(omega, bit_choices, costs, limits, ties)
    return found


def make_allocation(choice: Sequence[int], omega: np.ndarray, bit_choices: Sequence[int],
                    costs: Mapping[str, np.ndarray] | None = None) -> Allocation:
    """The :class:`Allocation` of choice indices, with its Ω and every cost summed."""
    rows = np.arange(len(choice))
    idx = np.asarray(choice)
    return Allocation(tuple(int(c) for c in choice), tuple(int(bit_choices[c]) for c in choice),
                      float(omega[rows, idx].sum()),
                      {name: float(t[rows, idx].sum()) for name, t in (costs or {}).items()})


def pareto_frontier(omega: np.ndarray, size: np.ndarray, bit_choices: Sequence[int],
                    ties: Sequence[Sequence[int]] = ()) -> list[Allocation]:
    """HAWQ-V2: every Pareto-optimal assignment of total Ω against total size, exactly.

    Dynamic programming over tie groups keeps, after each group, the non-dominated
    ``(size, Ω)`` partial sums; a prefix of a Pareto-optimal assignment is itself
    Pareto-optimal because both objectives add up, so nothing optimal is ever pruned.
    Returns allocations sorted by size ascending with Ω strictly decreasing.
    """
    omega, tables, _ = _check_inputs(omega, bit_choices, {"size": size}, {})
    size = tables["size"]
    groups = tie_groups(omega.shape[0], ties)
    states: list[tuple[float, float, tuple[int, ...]]] = [(0.0, 0.0, ())]
    for g in groups:
        opts = [(float(size[g, k].sum()), float(omega[g, k].sum())) for k in range(omega.shape[1])]
        merged = [(s + ds, o + do, (*c, k)) for s, o, c in states for k, (ds, do) in enumerate(opts)]
        states = _non_dominated(merged)
    return [make_allocation(_expand(c, groups), omega, bit_choices, {"size": size})
            for _, _, c in states]


def pick_from_frontier(frontier: Sequence[Allocation], size_limit: float) -> Allocation:
    """The frontier point of least Ω whose size is within ``size_limit`` (no manual step)."""
    ok = [a for a in frontier if a.costs["size"] <= size_limit]
    if not ok:
        smallest = min(a.costs["size"] for a in frontier)
        raise InfeasibleBudget(f"size limit {size_limit:g} is below the smallest model "
                               f"({smallest:g}); raise the limit")
    return min(ok, key=lambda a: a.omega)


def _non_dominated(states: list[tuple[float, float, tuple[int, ...]]]
                   ) -> list[tuple[float, float, tuple[int, ...]]]:
    """Sweep by size: keep a state only if its Ω is below every smaller-or-equal size's Ω."""
    keep, best = [], np.inf
    for s in sorted(states, key=lambda t: (t[0], t[1])):
        if s[1] < best:
            keep.append(s)
            best = s[1]
    return keep


def _expand(group_choice: Sequence[int], groups: Sequence[Sequence[int]]) -> list[int]:
    out = [0] * sum(len(g) for g in groups)
    for k, g in zip(group_choice, groups, strict=True):
        for i in g:
            out[i] = k
    return out


def _no_good_rows(n_layers: int, k: int, exclude: Sequence[Sequence[int]]) -> np.ndarray:
    """One row per excluded assignment, with a 1 at each of its ``(layer, choice)`` binaries."""
    rows = np.zeros((len(exclude), n_layers * k))
    for r, choice in enumerate(exclude):
        if len(choice) != n_layers or not all(0 <= c < k for c in choice):
            raise AllocationError(f"excluded assignment {list(choice)} must give one choice index "
                                  f"in 0..{k - 1} for each of {n_layers} layers")
        rows[r, np.arange(n_layers) * k + np.asarray(choice)] = 1.0
    return rows


def _tie_rows(n_layers: int, k: int, ties: Sequence[Sequence[int]]) -> np.ndarray:
    """Equality rows ``x[i, k] - x[j, k] = 0`` linking each group to its first layer."""
    rows = []
    for g in tie_groups(n_layers, ties):
        for j in g[1:]:
            for c in range(k):
                r = np.zeros(n_layers * k)
                r[g[0] * k + c], r[j * k + c] = 1.0, -1.0
                rows.append(r)
    return np.array(rows).reshape(-1, n_layers * k)


def _check_inputs(omega: np.ndarray, bit_choices: Sequence[int], costs: Mapping[str, np.ndarray],
                  limits: Mapping[str, float]
                  ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    omega = np.asarray(omega, dtype=float)
    if omega.ndim != 2 or omega.shape[1] != len(bit_choices) or omega.shape[0] == 0:
        raise AllocationError(f"omega has shape {omega.shape}; expected (layers, "
                              f"{len(bit_choices)}) to match bit_choices {list(bit_choices)}")
    tables = {n: np.asarray(t, dtype=float) for n, t in costs.items()}
    for n, t in tables.items():
        if t.shape != omega.shape:
            raise AllocationError(f"cost table {n!r} has shape {t.shape}; expected {omega.shape}")
    unknown = sorted(set(limits) - set(tables))
    if unknown:
        raise AllocationError(f"limit(s) {unknown} have no cost table; give costs for "
                              f"{unknown} or choose among {sorted(tables)}")
    return omega, tables, {n: float(v) for n, v in limits.items()}


def _infeasible_message(costs: Mapping[str, np.ndarray], limits: Mapping[str, float],
                        ties: Sequence[Sequence[int]], n_layers: int) -> str:
    """Name each limit with the least cost any assignment can reach."""
    groups = tie_groups(n_layers, ties)
    parts = []
    for name, limit in limits.items():
        least = sum(float(costs[name][g].sum(0).min()) for g in groups)
        parts.append(f"{name} <= {limit:g} (least possible {least:g})")
    return "no bit assignment meets " + ", ".join(parts) + "; raise the limits"
