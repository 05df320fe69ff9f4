"""Pareto helpers against brute force."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nas.pareto import dominates, hypervolume, hypervolume_trace, infer_reference, non_dominated_mask


@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(2, 4)), elements=st.integers(0, 5)))
def test_non_dominated_mask_equals_brute_force(Y):
    brute = [not any(dominates(b, a) for b in Y) for a in Y]
    assert non_dominated_mask(Y).tolist() == brute


@settings(max_examples=30)
@given(arrays(np.float64, st.tuples(st.integers(1, 12), st.just(3)), elements=st.floats(0, 1)))
def test_hypervolume_trace_equals_hypervolume_of_each_prefix(Y):
    ref = np.full(3, 1.1)
    trace = hypervolume_trace(Y, ref)
    for i in range(len(Y)):
        assert np.isclose(trace[i], hypervolume(Y[: i + 1], ref))
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(trace))


def test_inferred_reference_is_worse_than_every_point():
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    ref = infer_reference(Y)
    assert np.all(ref > Y.max(axis=0)) and np.allclose(ref, [1.1, 1.1])
