"""Each baseline zero-cost proxy against a hand computation on a two-layer network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from proxies.zero_cost import Batch, ProxyError, proxy_names, register, score

B, D, H, C = 5, 3, 4, 2


@pytest.fixture
def net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C)).double()


@pytest.fixture
def batch() -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch((torch.randn(B, D, generator=g, dtype=torch.float64),), torch.tensor([0, 1, 1, 0, 1]))


def parts(net: nn.Sequential, batch: Batch) -> dict[str, np.ndarray]:
    """Forward and backward of mean cross-entropy by hand (numpy)."""
    w1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    x, y = batch.inputs[0].numpy(), batch.labels.numpy()
    z = x @ w1.T + b1
    a = np.maximum(z, 0)
    logits = a @ w2.T + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - np.eye(C)[y]) / B
    da = dlogits @ w2
    dz = da * (z > 0)
    grads = {"w1": dz.T @ x, "b1": dz.sum(0), "w2": dlogits.T @ a, "b2": dlogits.sum(0)}
    return {"z": z, "a": a, "da": da, **grads, "W1": w1, "B1": b1, "W2": w2, "B2": b2}


def test_params_and_flops_match_the_counts_of_two_linear_layers(net, batch):
    assert score("params", net, batch) == D * H + H + H * C + C
    assert score("flops", net, batch) == 2 * (D * H + H * C)  # matmuls: 2 FLOPs per multiply-add


def test_grad_norm_and_snip_match_hand_gradients_and_leave_no_grad(net, batch):
    h = parts(net, batch)
    names = [("w1", "W1"), ("b1", "B1"), ("w2", "W2"), ("b2", "B2")]
    assert score("grad_norm", net, batch) == pytest.approx(sum(np.linalg.norm(h[g]) for g, _ in names), rel=1e-9)
    assert score("snip", net, batch) == pytest.approx(sum(np.abs(h[g] * h[w]).sum() for g, w in names), rel=1e-9)
    assert all(p.grad is None for p in net.parameters())


def test_fisher_matches_half_mean_squared_activation_times_gradient(net, batch):
    h = parts(net, batch)
    expected = (0.5 * ((h["a"] * h["da"]) ** 2).mean(0)).sum()
    assert score("fisher", net, batch) == pytest.approx(expected, rel=1e-9)
    assert all(p.grad is None for p in net.parameters())


def test_naswot_is_the_log_determinant_of_units_that_agree(net, batch):
    on = parts(net, batch)["z"] > 0
    k = np.array([[sum(on[i, u] == on[j, u] for u in range(H)) for j in range(B)] for i in range(B)], float)
    sign, logdet = np.linalg.slogdet(k)
    got = score("naswot", net, batch)
    assert got == pytest.approx(logdet) if sign != 0 else got == -math.inf


def test_synflow_of_a_bias_free_net_is_twice_the_path_norm_and_the_model_is_untouched(batch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(D, H, bias=False), nn.ReLU(), nn.Linear(H, C, bias=False)).double()
    before = [p.detach().clone() for p in net.parameters()]
    w1, w2 = net[0].weight.detach().abs().numpy(), net[2].weight.detach().abs().numpy()
    r = B * (np.ones(C) @ w2 @ w1 @ np.ones(D))  # R = Σ f(1) with |θ|; degree-2 homogeneous: Σ θ ∂R/∂θ = 2R
    assert score("synflow", net, batch) == pytest.approx(2 * r, rel=1e-9)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert all(p.grad is None for p in net.parameters())


def test_registry_names_every_proxy_and_refuses_unknown_and_duplicate_names(net, batch):
    assert {"params", "flops", "synflow", "naswot", "grad_norm", "snip", "fisher", "wpca", "pca"} <= set(proxy_names())
    with pytest.raises(ProxyError, match="unknown proxy 'zen'"):
        score("zen", net, batch)
    score("snip", net, batch)  # registers snip
    with pytest.raises(ProxyError, match="already registered"):
        register("snip")(lambda model, batches: 0.0)
