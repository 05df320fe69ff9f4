"""Pareto dominance, hypervolume and reference points as pure numpy functions.

Conventions: ``Y`` is an ``n x m`` array of objective values already turned into
*minimization* (multiply ``max`` objectives by -1 with :func:`to_min`); a reference point
``ref`` is the worst acceptable value of each objective, in the same orientation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def signs(directions: Sequence[str]) -> np.ndarray:
    """+1 for ``min`` objectives, -1 for ``max``: multiply values to get minimization."""
    return np.array([1.0 if d == "min" else -1.0 for d in directions])


def to_min(Y: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    return np.asarray(Y, dtype=float) * signs(directions)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere (minimization)."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_mask(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``Y`` (minimization). Duplicates all stay."""
    Y = np.asarray(Y, dtype=float)
    n = len(Y)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        if not mask[i]:
            continue
        le = np.all(Y <= Y[i], axis=1) & np.any(Y < Y[i], axis=1)
        if le.any():
            mask[i] = False
            continue
        dominated = np.all(Y[i] <= Y, axis=1) & np.any(Y[i] < Y, axis=1)
        mask &= ~dominated
    return mask


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by ``Y`` and bounded by ``ref`` (minimization).

    Points not strictly better than ``ref`` in every objective contribute nothing.
    2-D uses a sweep; more objectives use recursive slicing along the last objective.
    """
    Y = np.asarray(Y, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    Y = Y[np.all(Y < ref, axis=1)]
    if len(Y) == 0:
        return 0.0
    Y = Y[non_dominated_mask(Y)]
    return _hv(np.unique(Y, axis=0), ref)


def _hv(Y: np.ndarray, ref: np.ndarray) -> float:
    m = Y.shape[1]
    if m == 1:
        return float(ref[0] - Y[:, 0].min())
    if m == 2:
        Y = Y[np.argsort(Y[:, 0])]
        total, best_y = 0.0, ref[1]
        for x, y in Y:
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(total)
    order = np.argsort(Y[:, -1])
    Y = Y[order]
    total = 0.0
    for i in range(len(Y)):
        upper = Y[i + 1, -1] if i + 1 < len(Y) else ref[-1]
        depth = upper - Y[i, -1]
        if depth <= 0:
            continue
        front = Y[: i + 1, :-1]
        front = front[non_dominated_mask(front)]
        total += depth * _hv(np.unique(front, axis=0), ref[:-1])
    return float(total)


def infer_reference(Y: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Reference point from observed values (minimization): the worst observed value of
    each objective plus ``margin`` times its observed range (or ``margin`` · |worst|, at
    least ``margin``, when the range is zero)."""
    Y = np.asarray(Y, dtype=float)
    worst, best = Y.max(axis=0), Y.min(axis=0)
    span = worst - best
    span = np.where(span > 0, span, np.maximum(np.abs(worst), 1.0))
    return worst + margin * span


def reference_point(
    Y: np.ndarray, refs: Sequence[float | None], directions: Sequence[str]
) -> np.ndarray:
    """Reference point in minimization orientation: the given ``refs`` where set
    (in the user's orientation), inferred from ``Y`` (minimization) elsewhere."""
    s = signs(directions)
    inferred = infer_reference(Y) if len(Y) else np.ones(len(s))
    return np.array(
        [s[i] * r if r is not None else inferred[i] for i, r in enumerate(refs)], dtype=float
    )


def hypervolume_trace(Y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume after each of the first 1..n rows of ``Y`` (minimization)."""
    out = np.empty(len(Y))
    front = np.empty((0, Y.shape[1])) if len(Y) else np.empty((0, len(ref)))
    hv = 0.0
    for i, y in enumerate(np.asarray(Y, dtype=float)):
        if np.all(y < ref) and not any(np.all(f <= y) for f in front):
            front = np.vstack([front[~np.all(y <= front, axis=1)], y])
            hv = _hv(front, ref)
        out[i] = hv
    return out
