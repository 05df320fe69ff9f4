"""Synthetic problems: known optima, options validated, no torch needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from search_spaces import SpaceError, make_space


def _eval(space, config):
    return space.evaluate(config, None).values


def test_zdt1_optimal_front_is_one_minus_sqrt():
    s = make_space("synthetic", {"problem": "zdt1", "dim": 6})
    for f1 in (0.0, 0.25, 0.81):
        v = _eval(s, {"x0": f1, **{f"x{i}": 0.0 for i in range(1, 6)}})
        assert v["f2"] == pytest.approx(1 - math.sqrt(f1))


def test_dtlz2_optimal_points_lie_on_the_unit_sphere():
    s = make_space("synthetic", {"problem": "dtlz2", "dim": 6, "n_obj": 3})
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = {"x0": rng.random(), "x1": rng.random(), **{f"x{i}": 0.5 for i in range(2, 6)}}
        v = _eval(s, x)
        assert sum(f * f for f in v.values()) == pytest.approx(1.0)
    assert [o.name for o in s.objectives] == ["f1", "f2", "f3"]


def test_branincurrin_known_value():
    s = make_space("synthetic", {"problem": "branincurrin"})
    # Branin's global minimum 0.397887 at (pi, 2.275) -> unit coords ((pi+5)/15, 2.275/15)
    v = _eval(s, {"x0": (math.pi + 5) / 15, "x1": 2.275 / 15})
    assert v["f1"] == pytest.approx(0.397887, abs=1e-5)


def test_mixed_problem_has_int_and_categorical_parameters_and_prefers_n1_op_a():
    s = make_space("synthetic", {"problem": "mixed"})
    kinds = {k: p.kind for k, p in s.params.items()}
    assert kinds["n"] == "int" and kinds["op"] == "categorical"
    base = {"x0": 0.25, "x1": 0.0, "x2": 0.0}
    best = _eval(s, {**base, "n": 1, "op": "a"})["f2"]
    assert best < _eval(s, {**base, "n": 2, "op": "a"})["f2"]
    assert best < _eval(s, {**base, "n": 1, "op": "b"})["f2"]


@pytest.mark.parametrize("options,words", [
    ({"problem": "zdt9"}, "'zdt9' is unknown"),
    ({"problem": "zdt1", "dim": 1}, "dim=1"),
    ({"problem": "dtlz2", "dim": 2, "n_obj": 3}, "dim >= n_obj"),
    ({"problem": "branincurrin", "dim": 4}, "dim 2"),
    ({"problem": "zdt1", "depth": 3}, "unknown option"),
])
def test_bad_options_are_refused_with_the_reason(options, words):
    with pytest.raises(SpaceError, match=words):
        make_space("synthetic", options)


def test_every_space_constructs_with_no_options():
    s = make_space("synthetic")
    assert s.params and s.objectives
