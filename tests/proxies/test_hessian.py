"""Hessian machinery against exact Hessians and finite differences on a small MLP."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from proxies.hessian import (
    HessianError,
    batch_loss,
    hutchinson_traces,
    hvp,
    layer_weights,
    loss_gradients,
    model_trace,
    top_eigenvalues,
)
from search_spaces.tasks.threads import torch_threads

CE = nn.functional.cross_entropy


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread avoids oversubscription on a shared machine."""
    with torch_threads(1):
        yield


def _mlp() -> nn.Module:
    """8 -> 16 -> 16 -> 4 with tanh: 484 parameters, float64."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 4)).double()


def _batches(n: int = 3, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 8, generator=g, dtype=torch.float64),
             torch.randint(0, 4, (size,), generator=g)) for _ in range(n)]


def _exact_blocks(model: nn.Module, batches: list) -> dict[str, torch.Tensor]:
    """Each layer's exact Hessian block ``n_i x n_i`` of the mean batch loss."""
    weights = layer_weights(model)
    keys = [f"{name}.weight" for name in weights]

    def loss(*ws: torch.Tensor) -> torch.Tensor:
        params = dict(zip(keys, ws, strict=True))
        return sum(CE(functional_call(model, params, (x,)), y) for x, y in batches) / len(batches)

    H = torch.autograd.functional.hessian(loss, tuple(w.detach() for w in weights.values()))
    return {name: H[i][i].reshape(w.numel(), w.numel()) for i, (name, w) in enumerate(weights.items())}


def test_hutchinson_layer_traces_match_exact_hessian_within_4_standard_errors():
    model, batches = _mlp(), _batches()
    exact = {n: float(h.trace()) for n, h in _exact_blocks(model, batches).items()}
    est = hutchinson_traces(model, CE, batches, max_iter=480, tol=1e-9, seed=3)
    assert list(est) == ["0", "2", "4"]
    for name, e in est.items():
        assert e.n >= 480
        assert abs(e.mean - exact[name]) <= 4 * e.stderr, (name, e, exact[name])


def test_whole_model_trace_matches_the_exact_hessian_of_every_parameter():
    model, batches = _mlp(), _batches()
    names = [n for n, _ in model.named_parameters()]  # weights and biases

    def loss(*ps: torch.Tensor) -> torch.Tensor:
        params = dict(zip(names, ps, strict=True))
        return sum(CE(functional_call(model, params, (x,)), y) for x, y in batches) / len(batches)

    H = torch.autograd.functional.hessian(loss, tuple(p.detach() for p in model.parameters()))
    named = list(model.named_parameters())
    blocks = {n: float(H[i][i].reshape(p.numel(), p.numel()).trace()) for i, (n, p) in enumerate(named)}
    exact = sum(blocks.values())
    est = model_trace(model, CE, batches, max_iter=480, tol=1e-9, seed=3)
    assert est.n >= 480 and abs(est.mean - exact) <= 4 * est.stderr, (est, exact)
    weights_only = sum(v for n, v in blocks.items() if n.endswith("weight"))
    assert abs(exact - weights_only) > 4 * est.stderr  # an estimate that skipped the biases would fail


def test_hutchinson_stops_at_relative_tolerance_before_max_iter():
    model, batches = _mlp(), _batches(1)
    est = hutchinson_traces(model, CE, batches, max_iter=4000, tol=0.2, probes_per_step=4)
    assert all(e.n < 4000 and e.rel_error <= 0.2 for e in est.values())


def test_same_seed_gives_same_traces_and_vectorized_probes_give_the_same_samples():
    model, batches = _mlp(), _batches(2)
    a = hutchinson_traces(model, CE, batches, max_iter=64, seed=5)
    b = hutchinson_traces(model, CE, batches, max_iter=64, vectorize=True, seed=5)
    assert a == hutchinson_traces(model, CE, batches, max_iter=64, seed=5)
    for n in a:
        assert b[n].n == 64
        assert b[n].mean == pytest.approx(a[n].mean, rel=1e-9)
        assert b[n].stderr == pytest.approx(a[n].stderr, rel=1e-9)


def test_hvp_matches_central_finite_differences_of_the_gradient():
    model, batches = _mlp(), _batches(1)
    params = list(layer_weights(model).values())
    g = torch.Generator().manual_seed(7)
    v = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in params]
    grads = loss_gradients(batch_loss(model, CE, batches[0]), params)
    got = hvp(grads, params, v)
    eps = 1e-5

    def grad_at(sign: float) -> list[torch.Tensor]:
        with torch.no_grad():
            for p, d in zip(params, v, strict=True):
                p.add_(sign * eps * d)
        out = torch.autograd.grad(batch_loss(model, CE, batches[0]), params)
        with torch.no_grad():
            for p, d in zip(params, v, strict=True):
                p.sub_(sign * eps * d)
        return list(out)

    fd = [(a - b) / (2 * eps) for a, b in zip(grad_at(1.0), grad_at(-1.0), strict=True)]
    for h, f in zip(got, fd, strict=True):
        torch.testing.assert_close(h, f, rtol=1e-5, atol=1e-7)


def test_power_iteration_finds_each_blocks_largest_magnitude_eigenvalue():
    model, batches = _mlp(), _batches(2)
    exact = _exact_blocks(model, batches)
    got = top_eigenvalues(model, CE, batches, max_iter=2000, tol=1e-10, seed=0)
    for name, h in exact.items():
        ev = torch.linalg.eigvalsh(h)
        top = float(ev[ev.abs().argmax()])
        assert got[name] == pytest.approx(top, rel=1e-3)


def test_model_mode_is_restored_and_bad_arguments_are_named():
    model = _mlp().train()
    hutchinson_traces(model, CE, _batches(1), max_iter=8)
    assert model.training
    with pytest.raises(HessianError, match="unknown layer"):
        hutchinson_traces(model, CE, _batches(1), layers=["nope"])
    with pytest.raises(HessianError, match="tol=0"):
        hutchinson_traces(model, CE, _batches(1), tol=0)
    with pytest.raises(HessianError, match="no data"):
        hutchinson_traces(model, CE, [])
