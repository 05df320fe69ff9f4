"""Parameter encoding: decode(encode(v)) == v, bounds, and clear errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_spaces.params import Categorical, Float, Int, ParamError, param_from_json, validate_config


@given(st.floats(1e-5, 1e-1), st.booleans())
def test_float_round_trips_through_the_unit_interval(v, log):
    p = Float(1e-5, 1e-1, log=log)
    u = p.encode(v)
    assert 0.0 <= u <= 1.0
    assert math.isclose(p.decode(u), v, rel_tol=1e-9)


@given(st.integers(1, 64), st.booleans())
def test_int_round_trips_and_every_value_owns_a_slice(v, log):
    p = Int(1, 64, log=log)
    assert p.decode(p.encode(v)) == v


def test_int_decode_covers_the_ends_evenly():
    p = Int(0, 3)
    assert [p.decode(u) for u in (0.0, 0.24, 0.26, 0.74, 0.76, 1.0)] == [0, 0, 1, 2, 3, 3]


def test_categorical_encodes_to_its_index():
    p = Categorical(("conv3", "conv5", "skip"))
    assert [p.encode(c) for c in p.choices] == [0.0, 1.0, 2.0]
    assert p.decode(1.6) == "skip" and p.cardinality == 3
    with pytest.raises(ParamError, match="'pool' is not one of"):
        p.encode("pool")


@pytest.mark.parametrize("make,words", [
    (lambda: Float(1.0, 1.0), "smaller than high"),
    (lambda: Float(0.0, 1.0, log=True), "low > 0"),
    (lambda: Int(5, 2), "smaller than high"),
    (lambda: Categorical(()), "at least one"),
    (lambda: Categorical(("a", "a")), "repeat"),
    (lambda: param_from_json({"type": "bool"}), "unknown parameter type 'bool'"),
])
def test_bad_parameter_definitions_name_the_problem(make, words):
    with pytest.raises(ParamError, match=words):
        make()


def test_validate_config_names_the_parameter_and_the_value():
    params = {"lr": Float(1e-4, 1e-1, log=True), "n": Int(1, 4)}
    assert validate_config(params, {"lr": 0.01, "n": 2.0}) == {"lr": 0.01, "n": 2}
    with pytest.raises(ParamError, match=r"'n'.*7 is outside"):
        validate_config(params, {"lr": 0.01, "n": 7})
    with pytest.raises(ParamError, match="missing \\['n'\\]"):
        validate_config(params, {"lr": 0.01})
