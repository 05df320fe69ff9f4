"""Fake quantization, Ω and the weight/activation quantization contexts."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from proxies.quant import (
    QuantizationError,
    calibrate_activations,
    fake_quantize,
    omega,
    omega_table,
    quantization_error,
    quantize_activation,
    quantized_activations,
    quantized_weights,
)


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(2, 8), per_channel=st.booleans(), seed=st.integers(0, 10_000))
def test_fake_quantize_uses_at_most_2b_minus_1_symmetric_levels_and_bounded_error(bits, per_channel, seed):
    w = torch.randn(6, 5, 3, generator=torch.Generator().manual_seed(seed))
    q = fake_quantize(w, bits, per_channel)
    levels = 2 ** (bits - 1) - 1
    rows = q.reshape(6, -1) if per_channel else q.reshape(1, -1)
    for r, src in zip(rows, w.reshape(6, -1) if per_channel else w.reshape(1, -1), strict=True):
        assert len(torch.unique(r)) <= 2 * levels + 1
        step = src.abs().max() / levels
        assert torch.all((r - src).abs() <= step / 2 + 1e-6)
        assert torch.isclose(r.abs().max(), src.abs().max())


def test_error_shrinks_with_bits_and_per_channel_is_no_worse():
    w = torch.randn(16, 32) * torch.logspace(-2, 0, 16)[:, None]
    errs = [quantization_error(w, b) for b in range(2, 9)]
    assert all(a > b for a, b in itertools.pairwise(errs))
    assert quantization_error(w, 4, per_channel=True) < quantization_error(w, 4, per_channel=False)


def test_omega_is_mean_trace_times_squared_error():
    w = torch.randn(4, 4)
    assert omega(8.0, 16, 2.0) == 1.0
    table = omega_table({"fc": 3.0}, {"fc": w}, (2, 8))
    assert table["fc"][2] == pytest.approx(3.0 / 16 * quantization_error(w, 2))
    assert table["fc"][2] > table["fc"][8]


def test_bad_bit_width_names_the_value_and_the_range():
    with pytest.raises(QuantizationError, match=r"bit-width 1 .* from 2 to 16"):
        fake_quantize(torch.ones(2), 1)
    with pytest.raises(QuantizationError, match="unknown layer"):
        with quantized_weights(nn.Linear(2, 2), {"fc": 4}):
            pass


def test_weights_are_quantized_inside_the_block_and_restored_after():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    before = model[0].weight.clone()
    with quantized_weights(model, {"0": 2}):
        assert len(torch.unique(model[0].weight[0])) <= 3
    assert torch.equal(model[0].weight, before)


def test_8_bit_activations_barely_change_outputs_and_2_bit_do():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    x = torch.randn(64, 4)
    ranges = calibrate_activations(model, [(x, None)])
    assert ranges["0"][1] and not ranges["2"][1]  # input signed, post-ReLU unsigned
    ref = model(x)
    with quantized_activations(model, {"0": 8, "2": 8}, ranges):
        e8 = (model(x) - ref).abs().max()
    with quantized_activations(model, {"0": 2, "2": 2}, ranges):
        e2 = (model(x) - ref).abs().max()
    assert e8 < 0.05 * ref.abs().max() < e2
    assert torch.equal(model(x), ref)


def test_unsigned_activation_grid_has_2_to_the_b_levels():
    x = torch.linspace(0, 1, 1000)
    assert len(torch.unique(quantize_activation(x, 3, 1.0, signed=False))) == 8
