"""W-PCA: the PCA count against scikit-learn, designed spectra, invariances, and no gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch import nn

from proxies.wpca import (
    ffn_activations,
    layer_counts,
    non_embedding_params,
    pca_count,
    pca_score,
    wpca_score,
)
from proxies.zero_cost import Batch, ProxyError, score


@pytest.mark.parametrize("shape", [(200, 30), (40, 90), (500, 8)])
@pytest.mark.parametrize("eta", [0.5, 0.9, 0.99])
def test_count_equals_sklearn_pca_on_random_correlated_data(shape, eta):
    rng = np.random.default_rng(shape[0] + int(100 * eta))
    n, d = shape
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * rng.uniform(0.1, 3, size=d) + 5.0
    expected = PCA(n_components=eta, svd_solver="full").fit(x).n_components_
    assert pca_count(torch.from_numpy(x), eta) == expected


def designed(variances: list[float], n: int = 64, d: int = 10, seed: int = 0) -> torch.Tensor:
    """Rows whose principal variances are exactly ``variances`` (then zeros), rotated."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, len(variances), generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(a - a.mean(0))  # orthonormal, centred columns
    scores = q * torch.tensor(variances, dtype=torch.float64).mul(n - 1).sqrt()
    rot, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return scores @ rot[: len(variances)] + 3.0


@pytest.mark.parametrize(("eta", "k"), [(0.39, 1), (0.41, 2), (0.69, 2), (0.71, 3), (0.89, 3), (0.91, 4), (1.0, 4)])
def test_designed_spectrum_straddling_eta_gives_the_expected_count(eta, k):
    # variances 4, 3, 2, 1: cumulative shares 0.4, 0.7, 0.9, 1.0 (six more directions with none)
    assert pca_count(designed([4.0, 3.0, 2.0, 1.0]), eta) == k


def test_count_is_invariant_to_row_permutation_and_global_scaling():
    x = designed([5.0, 2.5, 1.5, 0.6, 0.3, 0.1], n=80, d=12, seed=3)
    perm = torch.randperm(80, generator=torch.Generator().manual_seed(1))
    for eta in (0.6, 0.95, 0.99):
        k = pca_count(x, eta)
        assert pca_count(x[perm], eta) == k
        assert pca_count(x * 1e-3, eta) == pca_count(x * 1e3, eta) == k


def test_constant_activations_need_no_component_and_bad_eta_is_refused():
    assert pca_count(torch.ones(10, 4), 0.99) == 0
    for eta in (0.0, -0.1, 1.5, True, "0.9"):
        with pytest.raises(ProxyError, match="eta="):
            pca_count(torch.randn(10, 4), eta)


class TinyLM(nn.Module):
    """Embedding, one FFN block named like BERT's (``layer.0.intermediate``), a head."""

    def __init__(self, width: int = 12) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.layer = nn.ModuleList([nn.Module()])
        self.layer[0].intermediate = nn.Sequential(nn.Linear(8, width), nn.GELU())
        self.layer[0].down = nn.Linear(width, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids)
        h = h + self.layer[0].down(self.layer[0].intermediate(h))
        return self.head(h.mean(1))


def tiny_batch(seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (6, 10), generator=g)
    mask = torch.ones(6, 10, dtype=torch.long)
    mask[:, 7:] = 0
    return Batch((ids, mask), torch.randint(0, 3, (6,), generator=g), mask)


def test_proxy_reads_unpadded_tokens_of_each_ffn_and_multiplies_by_non_embedding_params():
    torch.manual_seed(0)
    model, batch = TinyLM(), tiny_batch()
    acts = ffn_activations(model, [batch])
    assert list(acts) == ["layer.0.intermediate"] and acts["layer.0.intermediate"].shape == (6 * 7, 12)
    k = layer_counts(model, [batch], 0.99)["layer.0.intermediate"]
    assert k == pca_count(acts["layer.0.intermediate"], 0.99)
    assert non_embedding_params(model) == sum(p.numel() for p in model.parameters()) - 50 * 8
    assert pca_score(model, [batch]) == k
    assert wpca_score(model, [batch]) == non_embedding_params(model) * k == score("wpca", model, batch)


def test_proxy_runs_without_gradients_and_leaves_every_grad_none():
    torch.manual_seed(0)
    model, seen = TinyLM(), []
    model.layer[0].intermediate.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    wpca_score(model, [tiny_batch(), tiny_batch(1)])
    assert seen == [False, False]
    assert all(p.grad is None for p in model.parameters())


def test_a_model_without_ffn_blocks_is_refused():
    with pytest.raises(ProxyError, match="intermediate"):
        wpca_score(nn.Sequential(nn.Linear(3, 2)), [Batch((torch.randn(2, 3),), torch.zeros(2))])
