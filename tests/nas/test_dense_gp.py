"""The plain-torch GP (``nas.optimizers._dense_gp``) against gpytorch/BoTorch on the same
models: the training loss and its gradient, and the posterior, for every kernel ``mobo``
builds (continuous, categorical, mixed; one output and a batch of outputs)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from botorch.optim.closures.model_closures import get_loss_closure
from gpytorch.mlls import ExactMarginalLogLikelihood

from nas.optimizers import _gp
from nas.optimizers._dense_gp import Predictor, neg_mll, supported

CASES = [  # categorical columns, d, outputs, n
    ([], 4, 1, 30),
    ([], 4, 2, 40),
    ([0, 1, 2, 3, 4, 5], 6, 3, 35),
    ([2], 3, 2, 45),
    ([1], 2, 1, 25),
]


def data(cat: list[int], d: int, k: int, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, dtype=torch.double, generator=g)
    for c in cat:
        X[:, c] = torch.randint(0, 4, (n,), generator=g).double()
    Y = torch.sin(4 * X.sum(-1, keepdim=True)) + 0.3 * torch.randn(n, k, dtype=torch.double, generator=g)
    return X, Y


def jostled(model: Any, seed: int) -> Any:
    """The model with every raw hyperparameter moved at random (away from the priors'
    modes, where a wrong term could hide)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, dtype=p.dtype, generator=g)).clamp_(min=0.05)
    return model


@pytest.mark.parametrize(("cat", "d", "k", "n"), CASES)
def test_loss_and_gradient_equal_botorchs_closure(cat: list[int], d: int, k: int, n: int) -> None:
    X, Y = data(cat, d, k, n)
    model = jostled(_gp.build_gp(X, Y, cat), seed=len(cat) + k)
    assert supported(model)
    mll = ExactMarginalLogLikelihood(model.likelihood, model).train()
    theirs, ours = get_loss_closure(mll)(), neg_mll(model)
    assert theirs.shape == ours.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    params = list(model.parameters())
    for a, b in zip(torch.autograd.grad(theirs.sum(), params), torch.autograd.grad(ours.sum(), params), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("cat", "d", "k", "n"), CASES)
def test_predictor_equals_the_models_posterior(cat: list[int], d: int, k: int, n: int) -> None:
    X, Y = data(cat, d, k, n)
    model, _ = _gp.fit_output(X, Y, cat, n, _gp.HyperparameterCache(), 40, 10, fast_loss=True)
    Xq, _ = data(cat, d, k, 50, seed=1)
    with torch.no_grad():
        post = model.posterior(Xq)
        mean, var = Predictor(model)(Xq)
    torch.testing.assert_close(mean, post.mean, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(var, post.variance, rtol=1e-8, atol=1e-10)


def test_believed_points_keep_the_mean_and_lose_variance() -> None:
    X, Y = data([2], 3, 2, 40)
    model, _ = _gp.fit_output(X, Y, [2], 40, _gp.HyperparameterCache(), 40, 10, fast_loss=True)
    Xq, _ = data([2], 3, 2, 30, seed=2)
    with torch.no_grad():
        mean, var = Predictor(model)(Xq)
        mean_b, var_b = Predictor(model, Xq[:3])(Xq)
    torch.testing.assert_close(mean_b, mean, rtol=1e-8, atol=1e-9)
    assert (var_b[:3] < 0.5 * var[:3]).all()
    assert (var_b <= var + 1e-12).all()


@pytest.mark.parametrize(("cat", "d", "k", "n"), CASES[1:4])
def test_fast_fit_ends_as_good_as_a_fit_on_gpytorchs_loss(cat: list[int], d: int, k: int, n: int) -> None:
    """Same loss, same optimiser: the fits may take different paths (rounding), but end at
    an equally good loss (per point, within 0.01) for each output."""
    X, Y = data(cat, d, k, n)
    fast, _ = _gp.fit_output(X, Y, cat, n, _gp.HyperparameterCache(), 200, 20, fast_loss=True)
    slow, _ = _gp.fit_output(X, Y, cat, n, _gp.HyperparameterCache(), 200, 20)
    with torch.no_grad():
        ours, theirs = neg_mll(fast.train()), neg_mll(slow.train())
    assert (ours <= theirs + 0.01).all(), (ours, theirs)
    start = neg_mll(_gp.build_gp(X, Y, cat).train()).detach()
    assert (ours < start - 0.05).all()  # and the fit did move
