"""Ranking points for MO-ASHA: non-dominated sorting, crowding distance, one total order.

Pure numpy on ``n x m`` arrays already in minimisation orientation.
"""

from __future__ import annotations

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


def rank_order(Y: np.ndarray) -> list[int]:
    """Row indices best first: by non-dominated level, then larger crowding distance within
    the level, then earlier row (arrival order) -- a total order, so ties are decided."""
    Y = np.asarray(Y, dtype=float)
    level = nondominated_levels(Y)
    crowd = np.zeros(len(Y))
    for k in np.unique(level):
        idx = np.flatnonzero(level == k)
        crowd[idx] = crowding_distance(Y[idx])
    return sorted(range(len(Y)), key=lambda i: (level[i], -crowd[i], i))
