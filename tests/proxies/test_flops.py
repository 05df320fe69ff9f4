"""Cost model counts on layers whose sizes are known by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from proxies.flops import CostModel, layer_costs


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


def test_counts_weights_macs_and_inputs_per_sample():
    costs = layer_costs(_net(), torch.zeros(5, 1, 8, 8))
    assert costs["0"].n_params == 36 and costs["0"].macs == 4 * 64 * 9 and costs["0"].in_numel == 64
    assert costs["3"].n_params == 2560 and costs["3"].macs == 2560 and costs["3"].kind == "linear"


def test_totals_add_up_size_bops_and_latency():
    cm = CostModel.of(_net(), torch.zeros(2, 1, 8, 8), act_bits=8)
    assert cm.fixed_bytes == 4 * (4 + 10)
    t = cm.totals([8, 4])
    assert t["size_mb"] == pytest.approx((36 * 8 / 8 + 2560 * 4 / 8 + 56) / 1e6)
    assert t["bops"] == 2304 * 8 * 8 + 2560 * 4 * 8
    tables = cm.tables((2, 4, 8))
    assert np.all(np.diff(tables["size_mb"], axis=1) > 0)
    assert np.all(np.diff(tables["latency_us"], axis=1) >= 0)
    with pytest.raises(ValueError, match="3 bit-widths given for 2 layers"):
        cm.totals([8, 8, 8])
