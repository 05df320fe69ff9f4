"""Ranking points for MO-ASHA: non-dominated sorting, then a tie-break within each level
(an epsilon-net, the crowding distance or greedy hypervolume), giving one total order.

Pure numpy on ``n x m`` arrays already in minimisation orientation.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np


def nondominated_levels(Y: np.ndarray) -> np.ndarray:
    """The non-dominated sorting level of each row (0 = the Pareto front of ``Y``, 1 = the
    front once level 0 is removed, ...). Equal rows share a level."""
    Y = np.asarray(Y, dtype=float)
    n = len(Y)
    # dominated_by[i, j]: row j dominates row i
    le = np.all(Y[None, :, :] <= Y[:, None, :], axis=2)
    lt = np.any(Y[None, :, :] < Y[:, None, :], axis=2)
    dominated_by = le & lt
    level = np.full(n, -1)
    left = np.ones(n, dtype=bool)
    k = 0
    while left.any():
        front = left & ~np.any(dominated_by & left[None, :], axis=1)
        level[front] = k
        left &= ~front
        k += 1
    return level


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of one front: per objective, the gap between
    its neighbours over the objective's range, summed; the extremes get infinity."""
    Y = np.asarray(Y, dtype=float)
    n, m = Y.shape
    if n <= 2:
        return np.full(n, np.inf)
    dist = np.zeros(n)
    for j in range(m):
        order = np.argsort(Y[:, j], kind="stable")
        span = Y[order[-1], j] - Y[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (Y[order[2:], j] - Y[order[:-2], j]) / span
    return dist


TieBreak = Literal["epsnet", "crowding", "hypervolume"]
TIE_BREAKS: tuple[str, ...] = get_args(TieBreak)
_TIE = 1e-12  # distances or volumes (on objectives scaled to [0, 1]) this close are equal
_HV_REF = 1.1  # the hypervolume tie-break's reference point in each scaled objective


def unit_scaled(Y: np.ndarray) -> np.ndarray:
    """Each objective mapped onto [0, 1] by its range over the rows (a constant one to 0)."""
    Y = np.asarray(Y, dtype=float)
    lo, span = Y.min(axis=0), np.ptp(Y, axis=0)
    return (Y - lo) / np.where(span > 0, span, 1.0)


def _earliest_best(score: np.ndarray, among: np.ndarray) -> int:
    """The first row of ``among`` whose score is within ``_TIE`` of their largest (so float
    rounding never decides a tie: the earlier row wins)."""
    return int(np.flatnonzero(among & (score >= score[among].max() - _TIE))[0])


def epsilon_net_order(Z: np.ndarray) -> list[int]:
    """Farthest-first order of the rows of ``Z`` (already scaled): first the row best in the
    first objective (then the next objectives, then the earlier row), then repeatedly the row
    whose Euclidean distance to the nearest row already taken is largest (ties, within
    ``_TIE`` so that float rounding never decides one: the earlier row). Each prefix is a
    spread-out subset of the front (an epsilon-net), and a duplicate of a row already taken
    comes after every distinct row."""
    Z = np.asarray(Z, dtype=float)
    n = len(Z)
    if n == 0:
        return []
    first = min(range(n), key=lambda i: (*Z[i], i))
    order = [first]
    nearest = np.linalg.norm(Z - Z[first], axis=1)
    nearest[first] = -np.inf
    for _ in range(n - 1):
        nxt = _earliest_best(nearest, nearest > -np.inf)
        order.append(nxt)
        nearest = np.minimum(nearest, np.linalg.norm(Z - Z[nxt], axis=1))
        nearest[order] = -np.inf
    return order


def hypervolume_order(Z: np.ndarray) -> list[int]:
    """Greedy hypervolume order of the rows of ``Z``, one non-dominated level already scaled
    to [0, 1]: repeatedly the row that adds the most hypervolume to the rows already taken,
    against ``_HV_REF`` in every objective (ties, within ``_TIE``: the earlier row). So the
    first row is the one dominating the largest box on its own, each prefix is a greedy
    choice of the subset with the most hypervolume, and a duplicate of a row already taken,
    which adds nothing, comes after every row that adds something. One or two objectives
    (MO-ASHA refuses ``hypervolume`` for more: exact gains cost too much at a large rung);
    each row's gain comes from its nearest taken neighbours (:func:`_gains_2d`)."""
    Z = np.asarray(Z, dtype=float)
    if Z.shape[1] == 1:  # one objective: a level's rows are equal, so arrival decides
        return list(range(len(Z)))
    if Z.shape[1] != 2:
        raise ValueError(f"the hypervolume order ranks two objectives, not {Z.shape[1]}")
    ref = np.full(2, _HV_REF)
    order: list[int] = []
    left = np.ones(len(Z), dtype=bool)
    while left.any():
        nxt = _earliest_best(_gains_2d(Z, ref, order), left)
        order.append(nxt)
        left[nxt] = False
    return order


def _gains_2d(Z: np.ndarray, ref: np.ndarray, taken: list[int]) -> np.ndarray:
    """What each row of one 2-D level adds to the rows ``taken``: the box from the row to its
    nearest taken neighbours, ``(x_right - x) * (y_left - y)`` (the reference where there is
    none); 0 for a duplicate of a taken row. Rows of a level sorted by the first objective
    descend in the second, so only those neighbours bound it."""
    x, y = Z[:, 0], Z[:, 1]
    tx, ty = x[taken], y[taken]
    right = np.where(tx[None, :] > x[:, None], tx[None, :], ref[0]).min(axis=1, initial=ref[0])
    above = np.where(tx[None, :] < x[:, None], ty[None, :], ref[1]).min(axis=1, initial=ref[1])
    same = ((tx[None, :] == x[:, None]) & (ty[None, :] == y[:, None])).any(axis=1)
    return np.where(same, 0.0, (right - x) * (above - y))


def rank_order(Y: np.ndarray, tie_break: TieBreak = "epsnet") -> list[int]:
    """Row indices best first: by non-dominated level, then within a level by ``tie_break``:
    ``epsnet`` (:func:`epsilon_net_order`), ``hypervolume`` (:func:`hypervolume_order`), both
    on objectives scaled by their range over all rows, or ``crowding`` (larger NSGA-II
    crowding distance first, then the earlier row). A total order, so every tie is decided."""
    Y = np.asarray(Y, dtype=float)
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break={tie_break!r}: use one of {TIE_BREAKS}")
    level = nondominated_levels(Y)
    Z = unit_scaled(Y) if tie_break != "crowding" and len(Y) else Y
    order: list[int] = []
    for k in np.unique(level):
        idx = np.flatnonzero(level == k)  # ascending, so a position in idx is arrival order
        if tie_break == "epsnet":
            within = epsilon_net_order(Z[idx])
        elif tie_break == "hypervolume":
            within = hypervolume_order(Z[idx])
        else:
            crowd = crowding_distance(Y[idx])
            within = sorted(range(len(idx)), key=lambda j: (-crowd[j], j))
        order += [int(idx[j]) for j in within]
    return order
