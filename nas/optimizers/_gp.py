"""Gaussian-process surrogates for ``mobo``: training data, the fit-set cap, warm starts.

Pure functions on tensors plus one cache keyed by data. Every fitted model is a function
of the data alone (never of the cache's state), so a fresh process gives the same model:

* **Fit set.** At most ``max_points`` observations train the GPs: all of them while there
  are fewer; otherwise whole non-dominated-sorting layers (best first, feasible trials
  before infeasible ones), the last layer filled with its most recent trials.
* **Warm start.** Hyperparameters are fitted from the priors ("cold", at most
  ``cold_maxiter`` L-BFGS iterations) only at anchor sizes ``n0, ⌈1.5·n0⌉, ⌈1.5²·n0⌉, …``,
  on the first ``anchor`` observations (by trial number); at every other size the fit
  starts from the latest anchor's hyperparameters and runs at most ``warm_maxiter``
  iterations. Anchor fits are cached by a hash of their data, so a live study pays for one
  cold fit per 1.5× growth and a resumed one for one more.
* **One model for the objectives.** The outputs observed on every trial (the objectives,
  and constraints never missing) are one batched GP: independent hyperparameters per
  output, one L-BFGS run and one posterior call for all of them.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# torch.broadcast_shapes (BoTorch's input transforms call it) imports torch's symbolic-shape
# machinery, and sympy with it, on its first call: 1-2 s measured inside a fresh process's
# first model-based proposal. Imported here, that one-off cost is paid with the imports.
import torch.fx.experimental.symbolic_shapes
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import MixedSingleTaskGP, ModelListGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NanError, NotPSDError

from nas.optimizers import _dense_gp
from nas.pareto import non_dominated_mask

FIT_ERRORS = (ModelFittingError, NotPSDError, NanError)
_DTYPE = torch.double


@dataclass(frozen=True)
class FitReport:
    """How one output's GP got its hyperparameters: ``cold``, ``warm`` or ``cached``;
    ``error`` names a failed fit (the model then keeps its starting hyperparameters)."""

    how: str
    error: str | None = None


def pareto_layers(Y: np.ndarray, enough: int | None = None) -> np.ndarray:
    """Non-dominated-sorting rank (0 = front) of each row of ``Y`` (``n x m``, minimization).

    With ``enough``, sorting stops once that many rows are ranked; the rest get rank ``n``.
    """
    rank = np.full(len(Y), len(Y))
    left = np.arange(len(Y))
    layer = 0
    while len(left) and (enough is None or len(Y) - len(left) < enough):
        mask = non_dominated_mask(Y[left])
        rank[left[mask]] = layer
        left = left[~mask]
        layer += 1
    return rank


def fit_subset(Y_min: np.ndarray, feasible: np.ndarray, order: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` rows to train on (sorted ascending).

    Args:
        Y_min: ``n x m`` objective values, minimization orientation.
        feasible: ``n`` booleans; feasible rows are ranked before infeasible ones.
        order: ``n`` recency keys (trial numbers); larger wins ties within a layer.
        max_points: the cap.
    """
    n = len(Y_min)
    if n <= max_points:
        return np.arange(n)
    rank = np.full(n, 2 * n + 1)
    for ok, offset in ((feasible, 0), (~feasible, n + 1)):
        idx = np.flatnonzero(ok)
        rank[idx] = pareto_layers(Y_min[idx], enough=max_points) + offset
    chosen = np.lexsort((-order, rank))[:max_points]
    return np.sort(chosen)


def anchor_size(n: int, n0: int, growth: float = 1.5) -> int:
    """The largest anchor size ``⌈growth^k · n0⌉ <= n`` (``n`` itself when ``n < n0``)."""
    if n < n0:
        return n
    size = n0
    while (nxt := max(size + 1, math.ceil(size * growth))) <= n:
        size = nxt
    return size


def build_gp(X: torch.Tensor, y: torch.Tensor, cat_dims: Sequence[int]) -> SingleTaskGP:
    """One GP for one output. Categorical columns get a categorical kernel.

    Args:
        X: ``n x d`` encoded inputs: ordinal columns in ``[0, 1]``, categoricals as indices.
        y: ``n x k`` outcomes (standardized inside the model); with ``k > 1`` one model of
            ``k`` independent GPs, each with its own hyperparameters, batched in one tensor.
        cat_dims: the categorical columns.
    """
    d = X.shape[-1]
    ord_dims = [j for j in range(d) if j not in set(cat_dims)]
    # The encoding already maps ordinal columns to [0, 1]; fixed bounds keep Normalize
    # independent of the data (a learned range would shift with every new trial).
    unit = torch.tensor([[0.0] * len(ord_dims), [1.0] * len(ord_dims)], dtype=_DTYPE)
    normalize = Normalize(d, indices=ord_dims, bounds=unit) if ord_dims else None
    if cat_dims:
        return MixedSingleTaskGP(X, y, cat_dims=list(cat_dims), input_transform=normalize,
                                 outcome_transform=Standardize(y.shape[-1]))
    return SingleTaskGP(X, y, input_transform=normalize, outcome_transform=Standardize(y.shape[-1]))


def _hyperparameters(model: SingleTaskGP) -> dict[str, torch.Tensor]:
    """The model's learnable state, without transforms or data-dependent buffers."""
    skip = ("input_transform", "outcome_transform")
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith(skip)}


def data_key(*arrays: np.ndarray | Sequence[int]) -> str:
    h = hashlib.sha1()
    for a in arrays:
        b = np.ascontiguousarray(np.asarray(a, dtype=float))
        h.update(str(b.shape).encode())
        h.update(b.tobytes())
    return h.hexdigest()


class HyperparameterCache:
    """Fitted hyperparameters keyed by a hash of (inputs, outputs, kind). Holding or
    dropping it changes only the time a proposal takes, never the proposal."""

    def __init__(self, max_entries: int = 64) -> None:
        self._store: dict[str, dict[str, torch.Tensor]] = {}
        self.max_entries = max_entries

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        return self._store.get(key)

    def put(self, key: str, state: dict[str, torch.Tensor]) -> None:
        if len(self._store) >= self.max_entries:
            self._store.pop(next(iter(self._store)))
        self._store[key] = state


def _ends_the_fit(w: warnings.WarningMessage) -> bool:
    """A scipy termination other than convergence or ``maxiter`` (BoTorch warns, e.g. on a
    line search that found no decrease) keeps the point reached. BoTorch would resample
    every hyperparameter from its prior and fit again, up to five times: measured to turn a
    0.2 s warm fit into seconds, and a warm start into a cold one."""
    return issubclass(w.category, OptimizationWarning)


def _fit(model: SingleTaskGP, maxiter: int | None, fast_loss: bool = False) -> str | None:
    """Fit in place with a fixed torch seed (retries, after a numerical error, sample the
    priors); error text or None. ``fast_loss``: evaluate the loss with
    :func:`._dense_gp.neg_mll` where the model allows (same value and gradient, a fraction
    of gpytorch's per-call overhead)."""
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    if fast_loss and _dense_gp.supported(model):
        # BoTorch's loss closures defer to this hook: its own optimiser, bounds, batching
        # and retries then run on the plain-torch loss (same value, same gradient).
        P = _dense_gp.pairwise(model.covar_module, _dense_gp.training_inputs(model))
        mll.compute_custom_loss = lambda **_: _dense_gp.neg_mll(model, P)
    kwargs: dict[str, Any] = {"warning_handler": _ends_the_fit}
    if maxiter:
        kwargs["optimizer_kwargs"] = {"options": {"maxiter": maxiter}}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        try:
            fit_gpytorch_mll(mll, **kwargs)
        except FIT_ERRORS as e:
            model.eval()
            return f"{type(e).__name__}: {e}"
    return None


def fit_output(
    X: torch.Tensor,
    y: torch.Tensor,
    cat_dims: Sequence[int],
    anchor: int,
    cache: HyperparameterCache,
    cold_maxiter: int,
    warm_maxiter: int,
    fast_loss: bool = False,
) -> tuple[SingleTaskGP, FitReport]:
    """Fit the GPs of outputs ``y`` on rows ``X`` (ordered by trial number), warm-started
    from the cold fit on the first ``anchor`` rows (see the module docstring).

    Args:
        X: ``n x d`` inputs; y: ``n x k`` outcomes, none missing; anchor: ``<= n``.
    """
    key = data_key(X.numpy(), y.numpy(), list(cat_dims))
    model = build_gp(X, y, cat_dims)
    if (state := cache.get(key)) is not None:
        model.load_state_dict(state, strict=False)
        return model.eval(), FitReport("cached")
    if anchor >= len(X):
        error = _fit(model, cold_maxiter, fast_loss)
        report = FitReport("cold", error)
    else:
        start, start_report = fit_output(X[:anchor], y[:anchor], cat_dims, anchor, cache,
                                          cold_maxiter, warm_maxiter, fast_loss)
        model.load_state_dict(_hyperparameters(start), strict=False)
        error = _fit(model, warm_maxiter, fast_loss)
        report = FitReport("warm", error or start_report.error)
    if error is None:
        cache.put(key, _hyperparameters(model))
    return model.eval(), report


def fit_model_list(
    X: torch.Tensor,
    Y: torch.Tensor,
    cat_dims: Sequence[int],
    anchor_fraction: float,
    cache: HyperparameterCache,
    cold_maxiter: int,
    warm_maxiter: int,
    fast_loss: bool = False,
) -> tuple[Model, list[FitReport]]:
    """GPs for the columns of ``Y`` (``n x k``; NaN = missing), rows ordered by trial number.

    The leading columns without a NaN (the objectives, and any constraint observed on every
    trial) form one batched model fitted by one L-BFGS run: each iteration costs about what
    one output's would, since the time goes to per-call overhead, not arithmetic. Columns
    after the first with a NaN get a GP each, on their observed rows. One report per column.

    ``anchor_fraction`` is ``anchor / n``; each output's anchor is that share of its rows.
    ``fast_loss``: fit on :func:`._dense_gp.neg_mll` (see :func:`_fit`).
    """
    complete = (~torch.isnan(Y)).all(dim=0).tolist()
    k = complete.index(False) if False in complete else len(complete)
    models: list[Model] = []
    reports: list[FitReport] = []
    if k:
        anchor = max(1, round(anchor_fraction * len(X)))
        model, report = fit_output(X, Y[:, :k], cat_dims, anchor, cache, cold_maxiter, warm_maxiter, fast_loss)
        models.append(model)
        reports += [report] * k
    for i in range(k, Y.shape[-1]):
        ok = ~torch.isnan(Y[:, i])
        Xi, yi = X[ok], Y[ok, i : i + 1]
        anchor = max(1, round(anchor_fraction * len(Xi)))
        model, report = fit_output(Xi, yi, cat_dims, anchor, cache, cold_maxiter, warm_maxiter, fast_loss)
        models.append(model)
        reports.append(report)
    return (models[0] if len(models) == 1 else ModelListGP(*models)), reports
