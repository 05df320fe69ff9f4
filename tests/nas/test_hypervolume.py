"""nas.pareto.hypervolume against an exact brute force on the grid the points span."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nas.pareto import hypervolume, hypervolume_trace


def brute_force_hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Sum the volumes of the grid cells (cut at every coordinate of Y and ref) whose
    lower corner some point weakly dominates. Exact, no Monte Carlo, O(n^m) cells."""
    axes = [np.unique(np.clip(np.append(Y[:, k], ref[k]), None, ref[k])) for k in range(len(ref))]
    total = 0.0
    for idx in itertools.product(*[range(len(a) - 1) for a in axes]):
        lower = np.array([a[i] for a, i in zip(axes, idx, strict=True)])
        upper = np.array([a[i + 1] for a, i in zip(axes, idx, strict=True)])
        if np.any(np.all(Y <= lower, axis=1)):
            total += float(np.prod(upper - lower))
    return total


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(8))
def test_hypervolume_equals_grid_brute_force(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 12 if m == 2 else 9
    Y = rng.random((n, m))
    if seed % 2:  # ties and points beyond the reference point must be handled too
        Y[1] = Y[0]
        Y[2, 0] = 1.3
    ref = np.full(m, 1.1)
    assert hypervolume(Y, ref) == pytest.approx(brute_force_hypervolume(Y, ref), rel=1e-12, abs=1e-12)


def test_hypervolume_of_points_on_a_front_in_3d() -> None:
    # three unit corners: each point owns a 1x1x1 box below ref=(2,2,2) except the overlaps
    Y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert hypervolume(Y, np.full(3, 2.0)) == pytest.approx(brute_force_hypervolume(Y, np.full(3, 2.0)))
    assert hypervolume(Y, np.full(3, 2.0)) == pytest.approx(4.0)


def test_hypervolume_trace_matches_prefix_hypervolumes() -> None:
    rng = np.random.default_rng(3)
    Y = rng.random((15, 3))
    ref = np.full(3, 1.0)
    expected = [hypervolume(Y[: i + 1], ref) for i in range(len(Y))]
    assert hypervolume_trace(Y, ref) == pytest.approx(expected)
