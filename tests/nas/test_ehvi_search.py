"""Analytic log EHVI (``nas.optimizers._ehvi``) against high-precision and Monte-Carlo
references, and the batched discrete search (``nas.optimizers._search``) on problems whose
optimum is known."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch
from scipy.stats import norm

from nas.optimizers._acqf import make_domain
from nas.optimizers._ehvi import improvement_boxes, log_ehvi, log_feasibility, log_h
from nas.optimizers._search import avoided, enumerate_best, local_search, neighbours
from search_spaces.params import Categorical, Float, Int

D = torch.double


def test_log_h_matches_fifty_digit_arithmetic_from_the_far_tail_to_large_z() -> None:
    mpmath.mp.dps = 50
    zs = [-1e5, -3000.0, -999.0, -40.0, -10.0, -3.0, -1.0000001, -1.0, -0.5, 0.0, 2.0, 30.0]
    ours = log_h(torch.tensor(zs, dtype=D)).tolist()
    for z, v in zip(zs, ours, strict=True):
        exact = float(mpmath.log(mpmath.npdf(mpmath.mpf(z)) + mpmath.mpf(z) * mpmath.ncdf(mpmath.mpf(z))))
        assert v == pytest.approx(exact, rel=1e-11), z


def test_log_ehvi_equals_a_monte_carlo_estimate_and_the_exact_gain_without_noise() -> None:
    g = torch.Generator().manual_seed(0)
    Y = torch.rand(8, 2, dtype=D, generator=g)
    ref = torch.zeros(2, dtype=D)
    lower, upper = improvement_boxes(Y, ref, None)
    mean = torch.tensor([[0.7, 0.6], [0.95, 0.2], [1.2, -0.5]], dtype=D)
    var = torch.tensor([[0.04, 0.09], [0.01, 0.01], [0.2, 0.3]], dtype=D)
    ours = log_ehvi(mean, var, lower, upper).exp()
    mc = torch.zeros(3, dtype=D)
    for _ in range(8):  # 2 million samples per point, in chunks
        S = mean.unsqueeze(1) + var.sqrt().unsqueeze(1) * torch.randn(3, 250_000, 2, dtype=D, generator=g)
        mc += (torch.minimum(S.unsqueeze(-2), upper) - lower).clamp_min(0).prod(-1).sum(-1).mean(-1) / 8
    torch.testing.assert_close(ours, mc, rtol=0.01, atol=1e-4)
    # a point known exactly gains exactly its hypervolume improvement
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    hv = Hypervolume(ref)
    y = torch.tensor([[0.9, 0.8]], dtype=D)
    gain = hv.compute(torch.cat([Y, y])) - hv.compute(Y)
    exact = log_ehvi(y, torch.full_like(y, 1e-14), lower, upper).exp()
    assert float(exact) == pytest.approx(gain, rel=1e-5)


def test_caps_bound_the_boxes_and_a_fully_dominating_front_leaves_none() -> None:
    Y = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=D)
    ref = torch.tensor([-1.0, -1.0], dtype=D)
    lower, upper = improvement_boxes(Y, ref, torch.tensor([1.1, 1.1], dtype=D))
    assert (upper <= 1.1).all() and torch.isfinite(upper).all()
    # improvement is bounded by the capped boxes' volume
    far = log_ehvi(torch.tensor([[50.0, 50.0]], dtype=D), torch.full((1, 2), 1e-12, dtype=D), lower, upper).exp()
    assert float(far) == pytest.approx(float((upper - lower).prod(-1).sum()), rel=1e-9)
    none_left = log_ehvi(torch.zeros(1, 2, dtype=D), torch.ones(1, 2, dtype=D), lower[:0], upper[:0])
    assert torch.isinf(none_left).all()


def test_feasibility_is_the_product_of_normal_probabilities() -> None:
    mean = torch.tensor([[0.0, 1.0, 3.0]], dtype=D)
    var = torch.tensor([[1.0, 4.0, 0.25]], dtype=D)
    got = log_feasibility(mean, var, [(1, None, 2.0), (2, 2.5, None)])
    want = norm.logcdf((2.0 - 1.0) / 2.0) + norm.logcdf((3.0 - 2.5) / 0.5)
    assert float(got) == pytest.approx(want, rel=1e-12)


def cell_domain(k: int = 6) -> tuple:
    params = {f"e{i}": Categorical(("a", "b", "c", "d", "e")) for i in range(k)}
    return params, make_domain(params)


def test_local_search_finds_a_separable_optimum_and_never_returns_an_avoided_point() -> None:
    _, domain = cell_domain()
    target = torch.tensor([3.0, 1.0, 4.0, 0.0, 2.0, 2.0], dtype=D)

    def score(X: torch.Tensor) -> torch.Tensor:
        return -(X != target).to(D).sum(-1)

    torch.manual_seed(0)
    best = local_search(score, domain, torch.empty(0, 6, dtype=D), n_raw=32, n_starts=2, rounds=10, maxiter=5)
    assert torch.equal(best[0], target)
    torch.manual_seed(0)
    second = local_search(score, domain, target.unsqueeze(0), n_raw=32, n_starts=2, rounds=10, maxiter=5)
    assert not torch.equal(second[0], target) and float(score(second)) == -1.0


def test_mixed_search_polishes_continuous_columns_with_discrete_ones_held() -> None:
    params = {"x": Float(0.0, 1.0), "n": Int(1, 40), "op": Categorical(("a", "b", "c"))}
    domain = make_domain(params)
    n_target = domain.discrete[1][27]

    def score(X: torch.Tensor) -> torch.Tensor:
        return -(X[:, 0] - 0.3).pow(2) - (X[:, 1] - n_target).abs() - (X[:, 2] != 2).to(D)

    torch.manual_seed(1)
    best = local_search(score, domain, torch.empty(0, 3, dtype=D), n_raw=64, n_starts=3, rounds=12, maxiter=10)
    assert float(best[0, 0]) == pytest.approx(0.3, abs=1e-3)
    assert float(best[0, 1]) == n_target and float(best[0, 2]) == 2.0


def test_neighbours_change_one_coordinate_each() -> None:
    params = {"n": Int(0, 99), "op": Categorical(("a", "b", "c"))}
    domain = make_domain(params)
    x = torch.tensor([[domain.discrete[0][50], 1.0]], dtype=D)
    N, owner = neighbours(x, domain)
    assert ((N != x).sum(-1) == 1).all() and (owner == 0).all()
    steps = sorted(math.floor(float(v) * 100) for v in N[N[:, 1] == 1.0, 0])  # centres (v + 0.5) / 100
    assert steps == [18, 34, 42, 46, 48, 49, 51, 52, 54, 58, 66, 82]  # 50 +- 1, 2, 4, ..., 32
    assert sum(N[:, 0] == x[0, 0]) == 2  # both other categories


def test_enumeration_skips_avoided_rows_and_says_when_nothing_is_left() -> None:
    _, domain = cell_domain(2)
    choices = domain.choices()

    def score(X: torch.Tensor) -> torch.Tensor:
        return X.sum(-1)

    top = enumerate_best(score, choices, torch.empty(0, 2, dtype=D))
    assert top.tolist() == [[4.0, 4.0]]
    assert enumerate_best(score, choices, top).sum() == 7.0
    assert enumerate_best(score, choices, choices) is None
    assert avoided(choices, choices).all() and not math.isnan(float(score(choices).max()))
