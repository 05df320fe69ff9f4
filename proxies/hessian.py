"""Hessian machinery on any ``torch.nn.Module``: Hessian-vector products, per-layer traces
(Hutchinson) and per-layer top eigenvalues (power iteration).

A *layer* is a module holding a quantizable weight (``Linear``, ``Conv1d/2d/3d``); its
Hessian block is the one of the loss with respect to that weight. Every function puts the
model in ``eval`` mode while it works (so batch norm and dropout are fixed) and restores
the previous mode. Data are batches ``(x, y)`` and the loss is ``criterion(model(x), y)``;
the Hessian is the one of the mean of the batch losses.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]
Criterion = Callable[[Tensor, Tensor], Tensor]

QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class HessianError(ValueError):
    """Bad arguments to a Hessian routine (unknown layer, no data, bad tolerance)."""


@dataclass(frozen=True)
class TraceEstimate:
    """A Hutchinson estimate of ``Tr(H_i)``: the mean of ``n`` samples and its standard error."""

    mean: float
    stderr: float
    n: int

    @property
    def rel_error(self) -> float:
        return self.stderr / max(abs(self.mean), 1e-30)


def quantizable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The modules with a quantizable weight, by qualified name, in ``named_modules`` order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, QUANTIZABLE) and name}


def layer_weights(model: nn.Module, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
    """The weight tensor of each named layer (all quantizable layers when ``layers`` is None)."""
    found = quantizable_layers(model)
    names = list(found) if layers is None else list(layers)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise HessianError(f"unknown layer(s) {unknown}: choose among {list(found)}")
    if not names:
        raise HessianError("the model has no Linear or Conv layer to analyse")
    return {n: found[n].weight for n in names}


def batch_loss(model: nn.Module, criterion: Criterion, batch: Batch) -> Tensor:
    """Scalar loss of one batch ``(x, y)``."""
    x, y = batch
    return criterion(model(x), y)


def loss_gradients(loss: Tensor, params: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """First derivatives of ``loss`` with their graph kept, ready for :func:`hvp`."""
    return torch.autograd.grad(loss, list(params), create_graph=True)


def hvp(grads: Sequence[Tensor], params: Sequence[Tensor], vecs: Sequence[Tensor],
        batched: bool = False) -> tuple[Tensor, ...]:
    """Hessian-vector product ``H v`` by double backward through ``grads``.

    ``vecs[i]`` has the shape of ``params[i]``, or ``k x params[i].shape`` when ``batched``
    (``k`` products at once through vmap). Returns tensors of the same shapes as ``vecs``.
    """
    return torch.autograd.grad(list(grads), list(params), grad_outputs=list(vecs),
                               retain_graph=True, is_grads_batched=batched)


def rademacher(shapes: Sequence[torch.Size], k: int, gen: torch.Generator,
               dtype: torch.dtype, device: torch.device) -> list[Tensor]:
    """``k`` Rademacher (±1) vectors per shape: tensors ``k x shape``."""
    out = []
    for s in shapes:
        r = torch.randint(0, 2, (k, *s), generator=gen, dtype=torch.int8)
        out.append((r.to(dtype=dtype, device=device) * 2) - 1)
    return out


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model.eval()`` and restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def hutchinson_traces(model: nn.Module, criterion: Criterion, batches: Sequence[Batch],
                      layers: Sequence[str] | None = None, *, max_iter: int = 200,
                      min_iter: int = 16, tol: float = 1e-2, probes_per_step: int = 8,
                      vectorize: bool = False, seed: int = 0) -> dict[str, TraceEstimate]:
    """Per-layer Hessian traces by Hutchinson's estimator, all layers from the same probes.

    Each probe ``v`` is Rademacher over every layer weight at once; one product ``H v``
    gives the sample ``v_iᵀ (H v)_i`` for every layer ``i`` (the off-diagonal blocks add
    zero in expectation). Steps draw ``probes_per_step`` probes on one batch, cycling
    through ``batches``, and sampling ends only after whole passes so every batch weighs
    the same: once every layer has standard error below ``tol·|mean|`` (after ``min_iter``
    probes), or once ``max_iter`` probes are reached (rounded up to a whole pass).
    ``vectorize`` runs a step's products at once through vmap: faster on some models
    (MLPs), slower on others (small CNNs on CPU), so it is off by default.
    """
    weights = layer_weights(model, layers)
    samples = _hutchinson_samples(model, criterion, batches, list(weights.values()), max_iter=max_iter,
                                  min_iter=min_iter, tol=tol, probes_per_step=probes_per_step,
                                  vectorize=vectorize, seed=seed)
    return _estimates(list(weights), samples)


def model_trace(model: nn.Module, criterion: Criterion, batches: Sequence[Batch], *, max_iter: int = 200,
                min_iter: int = 16, tol: float = 1e-2, probes_per_step: int = 8, seed: int = 0) -> TraceEstimate:
    """Hutchinson estimate of the trace of the whole model's Hessian (every parameter that
    requires a gradient, biases and norms included): each probe's sample is ``vᵀHv`` over
    all of them. Sampling and stopping as in :func:`hutchinson_traces`, on the total."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise HessianError("the model has no parameter that requires a gradient")
    samples = _hutchinson_samples(model, criterion, batches, params, max_iter=max_iter, min_iter=min_iter,
                                  tol=tol, probes_per_step=probes_per_step, vectorize=False, seed=seed,
                                  total=True)
    return _estimates(["model"], samples)["model"]


def _hutchinson_samples(model: nn.Module, criterion: Criterion, batches: Sequence[Batch],
                        params: Sequence[Tensor], *, max_iter: int, min_iter: int, tol: float,
                        probes_per_step: int, vectorize: bool, seed: int, total: bool = False) -> Tensor:
    """The ``n x L`` matrix of samples ``v_iᵀ (H v)_i`` (``n x 1``, their sum, when ``total``)."""
    _check_estimator_args(batches, max_iter, min_iter, tol, probes_per_step)
    gen = torch.Generator().manual_seed(seed)
    samples: list[Tensor] = []  # each k x L
    n_batches = len(batches)
    with eval_mode(model):
        step, grads, n = 0, None, 0
        while n < max_iter or step % n_batches:
            if grads is None or n_batches > 1:
                grads = loss_gradients(batch_loss(model, criterion, batches[step % n_batches]), params)
            step_samples = _probe_samples(grads, params, probes_per_step, gen, vectorize)
            samples.append(step_samples.sum(1, keepdim=True) if total else step_samples)
            n, step = n + probes_per_step, step + 1
            if step % n_batches == 0 and n >= min_iter and _converged(torch.cat(samples), tol):
                break
    return torch.cat(samples)


def _probe_samples(grads: Sequence[Tensor], params: Sequence[Tensor], k: int,
                   gen: torch.Generator, vectorize: bool) -> Tensor:
    """``k x L`` samples ``v_iᵀ (H v)_i`` from ``k`` fresh Rademacher probes."""
    p0 = params[0]
    vs = rademacher([p.shape for p in params], k, gen, p0.dtype, p0.device)
    hvs = _batched_hvp(grads, params, vs, vectorize)
    cols = [(v * hv).reshape(k, -1).sum(1) for v, hv in zip(vs, hvs, strict=True)]
    return torch.stack(cols, 1).detach().to(torch.float64)


def _batched_hvp(grads: Sequence[Tensor], params: Sequence[Tensor],
                 vs: Sequence[Tensor], vectorize: bool) -> tuple[Tensor, ...]:
    """``k`` products, at once through vmap when ``vectorize`` (a loop where vmap lacks an
    operator), else one at a time."""
    if vectorize and vs[0].shape[0] > 1:
        try:
            return hvp(grads, params, vs, batched=True)
        except RuntimeError as e:  # a layer whose double backward has no batching rule
            warnings.warn(f"batched Hessian-vector products failed ({e}); using a loop",
                          RuntimeWarning, stacklevel=3)
    rows = [hvp(grads, params, [v[j] for v in vs]) for j in range(vs[0].shape[0])]
    return tuple(torch.stack(col) for col in zip(*rows, strict=True))


def _converged(samples: Tensor, tol: float) -> bool:
    """True when every column's standard error is within ``tol`` of its mean's size."""
    n = samples.shape[0]
    if n < 2:
        return False
    se = samples.std(0, unbiased=True) / math.sqrt(n)
    return bool(torch.all(se <= tol * samples.mean(0).abs()))


def _estimates(names: Sequence[str], samples: Tensor) -> dict[str, TraceEstimate]:
    """Mean and standard error of each column of the ``n x L`` sample matrix."""
    n = samples.shape[0]
    means = samples.mean(0)
    ses = samples.std(0, unbiased=True) / math.sqrt(n) if n > 1 else torch.full_like(means, math.inf)
    return {name: TraceEstimate(float(m), float(s), n)
            for name, m, s in zip(names, means, ses, strict=True)}


def _check_estimator_args(batches: Sequence[Batch], max_iter: int, min_iter: int, tol: float,
                          probes_per_step: int) -> None:
    if len(batches) == 0:
        raise HessianError("no data: pass at least one batch (x, y)")
    if max_iter < 2 or min_iter < 2:
        raise HessianError(f"max_iter={max_iter} and min_iter={min_iter} must both be >= 2 "
                           "(a standard error needs two samples)")
    if not tol > 0:
        raise HessianError(f"tol={tol} must be > 0 (a relative standard error, e.g. 0.01)")
    if probes_per_step < 1:
        raise HessianError(f"probes_per_step={probes_per_step} must be >= 1")


def top_eigenvalues(model: nn.Module, criterion: Criterion, batches: Sequence[Batch],
                    layers: Sequence[str] | None = None, *, max_iter: int = 100,
                    tol: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Eigenvalue of largest magnitude of each layer's Hessian block, by power iteration.

    Uses ``H_ii v = ∂(∂L/∂W_i · v)/∂W_i`` per layer, so only the block is touched. The
    Hessian is the mean over ``batches`` (their graphs are all kept in memory). Stops when
    the Rayleigh quotient changes by less than ``tol`` relative, or after ``max_iter`` steps.
    """
    if len(batches) == 0:
        raise HessianError("no data: pass at least one batch (x, y)")
    weights = layer_weights(model, layers)
    params = list(weights.values())
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        grads = [loss_gradients(batch_loss(model, criterion, b), params) for b in batches]
        return {name: _power_iteration([g[i] for g in grads], params[i], gen, max_iter, tol)
                for i, name in enumerate(weights)}


def _power_iteration(grads: Sequence[Tensor], w: Tensor, gen: torch.Generator,
                     max_iter: int, tol: float) -> float:
    """Top eigenvalue of the block ``mean_b ∂²L_b/∂w²`` from the gradients ``grads[b]``."""
    v = torch.randn(w.shape, generator=gen, dtype=torch.float64).to(w)
    v = v / v.norm()
    lam = 0.0
    for _ in range(max_iter):
        hv = sum(torch.autograd.grad(g, w, v, retain_graph=True)[0] for g in grads) / len(grads)
        new = float((hv * v).sum())
        norm = hv.norm()
        if norm == 0:
            return 0.0
        v = (hv / norm).detach()
        if abs(new - lam) <= tol * max(abs(new), 1e-30):
            return new
        lam = new
    return lam
