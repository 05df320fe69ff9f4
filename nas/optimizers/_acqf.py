"""Acquisition functions and their optimisation over mixed spaces, for ``mobo``.

Everything works in the *encoded* space of :mod:`nas.optimizers._encode` (ordinal columns
in ``[0, 1]``, categoricals as indices) and in *maximization* orientation, BoTorch's own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective, MCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model import Model
from botorch.optim import (
    optimize_acqf,
    optimize_acqf_discrete,
    optimize_acqf_discrete_local_search,
    optimize_acqf_mixed_alternating,
)
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.sampling import sample_simplex

from nas.optimizers.base import Constraint
from search_spaces.params import Categorical, Int, Param

_DTYPE = torch.double
MAX_DISCRETE_INT = 1000  # integers with more values are optimised as continuous, then rounded
SPRAY_POINTS = 20  # BoTorch's default for purely continuous mixed-alternating problems
# Line-search steps per L-BFGS iteration (scipy's default is 20). Restarts run batched and
# each call evaluates every unfinished restart, so one restart stuck in a long line search
# sets the cost of all; past 3 steps an iteration seldom gains anything.
LBFGS_MAXLS = 3
# Alternations of a discrete and a continuous step per point in mixed domains (BoTorch: 64,
# stopping early once most restarts stop improving).
MIXED_ALTERNATIONS = 3
CAP_SOFTNESS = 0.02  # of an objective's observed range: how soft ClampedObjective's cap is


@dataclass(frozen=True)
class Domain:
    """The encoded search domain.

    ``bounds`` is ``2 x d``; ``discrete`` maps integer columns to their encoded values (slice
    centres); ``categorical`` maps categorical columns to ``0 .. k-1``.
    """

    bounds: torch.Tensor
    discrete: dict[int, list[float]]
    categorical: dict[int, list[float]]

    @property
    def values(self) -> dict[int, list[float]]:
        """The allowed values of each integer and categorical column."""
        return {**self.discrete, **self.categorical}

    @property
    def continuous(self) -> list[int]:
        """The columns with neither (optimised over their bounds)."""
        return [j for j in range(self.bounds.shape[-1]) if j not in self.values]

    @property
    def fully_discrete(self) -> bool:
        return not self.continuous

    def n_configs(self) -> float:
        sizes = [len(v) for v in (*self.discrete.values(), *self.categorical.values())]
        return math.prod(sizes) if self.fully_discrete else math.inf

    def choices(self) -> torch.Tensor:
        """All ``N x d`` configurations of a fully discrete domain."""
        values = [self.values[j] for j in range(self.bounds.shape[-1])]
        return torch.tensor(list(itertools.product(*values)), dtype=_DTYPE)


def make_domain(params: dict[str, Param]) -> Domain:
    lo, hi = [], []
    discrete: dict[int, list[float]] = {}
    categorical: dict[int, list[float]] = {}
    for j, p in enumerate(params.values()):
        if isinstance(p, Categorical):
            categorical[j] = [float(i) for i in range(p.cardinality)]
            lo.append(0.0)
            hi.append(float(p.cardinality - 1))
        elif isinstance(p, Int) and p.high - p.low < MAX_DISCRETE_INT:
            discrete[j] = [p.encode(v) for v in range(p.low, p.high + 1)]
            lo.append(discrete[j][0])
            hi.append(discrete[j][-1])
        else:
            lo.append(0.0)
            hi.append(1.0)
    return Domain(torch.tensor([lo, hi], dtype=_DTYPE), discrete, categorical)


def outcome_constraints(
    constraints: list[Constraint], m: int
) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """BoTorch constraint callables (feasible where ``<= 0``) on model outputs ``m, m+1, …``.

    Each takes samples ``... x q x (m + k)`` and returns ``... x q``.
    """
    out: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for i, c in enumerate(constraints):
        col = m + i
        if c.upper is not None:
            out.append(lambda Z, col=col, u=c.upper: Z[..., col] - u)
        if c.lower is not None:
            out.append(lambda Z, col=col, lo=c.lower: lo - Z[..., col])
    return out


class ClampedObjective(MCMultiOutputObjective):
    """The first ``m`` outputs, each capped at ``upper`` (``m``, maximization).

    With a far reference point, a sample predicted past the best value ever observed (say
    ``f1 < 0`` for ``f1 = x0`` at ``x0 = 0``) is worth a strip as long as the whole box,
    so a model's optimistic extrapolation would pull every proposal there; capped, a
    sample only improves up to ``upper``. The cap is soft (``upper - tau·softplus((upper -
    y) / tau)``): a hard one leaves kinks that cost the optimiser several times more steps.
    """

    def __init__(self, upper: torch.Tensor, tau: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("upper", upper)
        self.register_buffer("tau", tau)

    def forward(self, samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """``sample_shape x batch_shape x q x (m + k)`` → ``... x q x m``."""
        Y = samples[..., : len(self.upper)]
        return self.upper - self.tau * torch.nn.functional.softplus((self.upper - Y) / self.tau)


def objective_caps(Y_max: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Caps and softness for :class:`ClampedObjective` from ``n x m`` observed objectives
    (maximization): the best value plus ``margin`` times the observed range, softened over
    ``CAP_SOFTNESS`` times the range; None (no caps) where ``margin`` is infinite."""
    if math.isinf(margin):
        return None
    best, worst = Y_max.max(dim=0).values, Y_max.min(dim=0).values
    span = torch.where(best > worst, best - worst, torch.ones_like(best))
    return best + margin * span, CAP_SOFTNESS * span


def nehvi(
    model: Model,
    X_baseline: torch.Tensor,
    ref_point: torch.Tensor,
    m: int,
    constraints: list[Callable[[torch.Tensor], torch.Tensor]],
    X_pending: torch.Tensor | None,
    mc_samples: int,
    seed: int,
    caps: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> AcquisitionFunction:
    """qLogNEHVI over the first ``m`` outputs (maximized) with ``ref_point`` (``m``).

    Args:
        X_baseline: ``n x d`` observed inputs; X_pending: ``p x d`` running trials or None.
        caps: ``m`` upper limits on the objectives' samples and ``m`` softnesses
            (:class:`ClampedObjective`, :func:`objective_caps`), or None.
    """
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref_point,
        X_baseline=X_baseline,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))) if caps is None
        else ClampedObjective(*caps),
        constraints=constraints or None,
        X_pending=X_pending,
        prune_baseline=True,
    )


def nei(
    model: Model,
    X_baseline: torch.Tensor,
    constraints: list[Callable[[torch.Tensor], torch.Tensor]],
    X_pending: torch.Tensor | None,
    mc_samples: int,
    seed: int,
) -> AcquisitionFunction:
    """qLogNEI of the first output: one objective (maximized); hypervolume needs two."""
    return qLogNoisyExpectedImprovement(
        model=model,
        X_baseline=X_baseline,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
        objective=GenericMCObjective(lambda Z, X=None: Z[..., 0]),
        constraints=constraints or None,
        X_pending=X_pending,
        prune_baseline=True,
    )


def parego(
    model: Model,
    X_baseline: torch.Tensor,
    m: int,
    constraints: list[Callable[[torch.Tensor], torch.Tensor]],
    X_pending: torch.Tensor | None,
    mc_samples: int,
    seed: int,
) -> AcquisitionFunction:
    """qLogNParEGO with Chebyshev weights drawn uniformly from the ``m``-simplex."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        weights = sample_simplex(m, dtype=_DTYPE).squeeze(0)
    return qLogNParEGO(
        model=model,
        X_baseline=X_baseline,
        scalarization_weights=weights,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))),
        constraints=constraints or None,
        X_pending=X_pending,
        prune_baseline=True,
    )


def with_full_fidelity(X: torch.Tensor, fidelity: bool) -> torch.Tensor:
    """``X`` (``n x d``) with a last column of ones (full fidelity) where the model has a
    fidelity column, else ``X`` itself."""
    return torch.cat([X, torch.ones(*X.shape[:-1], 1, dtype=X.dtype)], dim=-1) if fidelity else X


class _AtFullFidelity(FixedFeatureAcquisitionFunction):
    """BoTorch's fixed-feature wrapper with its fixed column last, whose ``X_pending`` reads
    back in the columns it is set in: BoTorch's getter returns the wrapped function's inputs
    (one column more), which sequential-greedy optimisers concatenate with new candidates;
    and which has the wrapped function's ``model`` and ``X_baseline``."""

    @property
    def X_pending(self) -> torch.Tensor | None:
        X = self.acq_func.X_pending
        return None if X is None else X[..., : self.d - 1]

    @X_pending.setter
    def X_pending(self, X_pending: torch.Tensor | None) -> None:
        self.acq_func.X_pending = None if X_pending is None else self._construct_X_full(X_pending)

    @property
    def model(self) -> Model:  # read by ``optimize_acqf`` (BoTorch's wrapper has none)
        return self.acq_func.model

    @property
    def X_baseline(self) -> torch.Tensor:
        """The wrapped function's baseline without the fidelity column: optimisers start
        from points around it (``get_X_baseline`` would read the model's wider inputs)."""
        return self.acq_func.X_baseline[..., : self.d - 1]


def at_full_fidelity(acq: AcquisitionFunction, d: int, fidelity: bool) -> AcquisitionFunction:
    """``acq`` on ``d`` columns, its model's last input (the fidelity) held at 1, where the
    model has a fidelity column; else ``acq`` itself."""
    return _AtFullFidelity(acq, d=d + 1, columns=[d], values=[1.0]) if fidelity else acq


def mixed_options(maxiter: int, around_best: bool) -> dict[str, int]:
    """``optimize_acqf_mixed_alternating``'s budgets, bounded like the continuous case.

    BoTorch's defaults were measured to dominate a proposal's time (8 s of 9 at 100
    observations on a float + int + categorical space): its starting points come from an
    L-BFGS run of up to 100 iterations on the continuous relaxation, then up to 64
    alternations of a discrete step and an 8-iteration continuous step. Here the relaxation
    and each continuous step get ``maxiter`` iterations and a point at most
    ``MIXED_ALTERNATIONS`` alternations.
    """
    options = {"maxiter_init": maxiter, "maxiter_continuous": maxiter,
               "maxiter_alternating": MIXED_ALTERNATIONS}
    return options | ({"num_spray_points": SPRAY_POINTS} if around_best else {})


def optimize(
    acq: AcquisitionFunction,
    domain: Domain,
    q: int,
    X_avoid: torch.Tensor,
    num_restarts: int,
    raw_samples: int,
    max_enumerate: int,
    maxiter: int,
    around_best: bool = False,
) -> tuple[torch.Tensor, str]:
    """``q x d`` candidates (sequential greedy, each conditioned on the ones before) and the
    name of the BoTorch optimiser used.

    Fully discrete domains never return a row of ``X_avoid`` (``a x d``: evaluated and
    running trials) and never repeat a row: they are enumerated up to ``max_enumerate``
    configurations, searched locally beyond that. ``around_best`` (continuous and mixed
    domains): perturbations of the current front's inputs join the raw samples (half of
    them; ``SPRAY_POINTS`` per front point in mixed domains, where BoTorch adds none by
    default), so local refinement of the front competes with global starts. ``maxiter``
    bounds the L-BFGS-B iterations of each continuous restart.
    """
    if domain.fully_discrete and domain.n_configs() <= max_enumerate:
        X, _ = optimize_acqf_discrete(acq, q=q, choices=domain.choices(), X_avoid=X_avoid, unique=True)
        return X, "optimize_acqf_discrete"
    if domain.fully_discrete:
        values = [
            torch.tensor(domain.values[j], dtype=_DTYPE)
            for j in range(domain.bounds.shape[-1])
        ]
        X, _ = optimize_acqf_discrete_local_search(
            acq, discrete_choices=values, q=q, num_restarts=num_restarts,
            raw_samples=raw_samples, X_avoid=X_avoid, unique=True,
        )
        return X, "optimize_acqf_discrete_local_search"
    if not domain.discrete and not domain.categorical:
        options = {"sample_around_best": around_best, "maxls": LBFGS_MAXLS, "maxiter": maxiter}
        # A restart whose line search gives up after LBFGS_MAXLS steps keeps the point it
        # reached; BoTorch would warn and redo the whole step from new starts.
        X, _ = optimize_acqf(acq, domain.bounds, q=q, num_restarts=num_restarts,
                             raw_samples=raw_samples, sequential=True, options=options,
                             retry_on_optimization_warning=False)
        return X, "optimize_acqf"
    X, _ = optimize_acqf_mixed_alternating(
        acq, domain.bounds, discrete_dims=domain.discrete, cat_dims=domain.categorical,
        q=q, num_restarts=num_restarts, raw_samples=raw_samples,
        options=mixed_options(maxiter, around_best),
    )
    return X, "optimize_acqf_mixed_alternating"
