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
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO
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
    def fully_discrete(self) -> bool:
        return len(self.discrete) + len(self.categorical) == self.bounds.shape[-1]

    def n_configs(self) -> float:
        sizes = [len(v) for v in (*self.discrete.values(), *self.categorical.values())]
        return math.prod(sizes) if self.fully_discrete else math.inf

    def choices(self) -> torch.Tensor:
        """All ``N x d`` configurations of a fully discrete domain."""
        values = [self.discrete.get(j) or self.categorical[j] for j in range(self.bounds.shape[-1])]
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


def nehvi(
    model: Model,
    X_baseline: torch.Tensor,
    ref_point: torch.Tensor,
    m: int,
    constraints: list[Callable[[torch.Tensor], torch.Tensor]],
    X_pending: torch.Tensor | None,
    mc_samples: int,
    seed: int,
) -> AcquisitionFunction:
    """qLogNEHVI over the first ``m`` outputs (maximized) with ``ref_point`` (``m``).

    Args:
        X_baseline: ``n x d`` observed inputs; X_pending: ``p x d`` running trials or None.
    """
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref_point,
        X_baseline=X_baseline,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(m))),
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


def optimize(
    acq: AcquisitionFunction,
    domain: Domain,
    q: int,
    X_avoid: torch.Tensor,
    num_restarts: int,
    raw_samples: int,
    max_enumerate: int,
) -> tuple[torch.Tensor, str]:
    """``q x d`` candidates (sequential greedy, each conditioned on the ones before) and the
    name of the BoTorch optimiser used.

    Fully discrete domains never return a row of ``X_avoid`` (``a x d``: evaluated and
    running trials) and never repeat a row: they are enumerated up to ``max_enumerate``
    configurations, searched locally beyond that.
    """
    if domain.fully_discrete and domain.n_configs() <= max_enumerate:
        X, _ = optimize_acqf_discrete(acq, q=q, choices=domain.choices(), X_avoid=X_avoid, unique=True)
        return X, "optimize_acqf_discrete"
    if domain.fully_discrete:
        values = [
            torch.tensor(domain.discrete.get(j) or domain.categorical[j], dtype=_DTYPE)
            for j in range(domain.bounds.shape[-1])
        ]
        X, _ = optimize_acqf_discrete_local_search(
            acq, discrete_choices=values, q=q, num_restarts=num_restarts,
            raw_samples=raw_samples, X_avoid=X_avoid, unique=True,
        )
        return X, "optimize_acqf_discrete_local_search"
    if not domain.discrete and not domain.categorical:
        X, _ = optimize_acqf(acq, domain.bounds, q=q, num_restarts=num_restarts,
                             raw_samples=raw_samples, sequential=True)
        return X, "optimize_acqf"
    X, _ = optimize_acqf_mixed_alternating(
        acq, domain.bounds, discrete_dims=domain.discrete, cat_dims=domain.categorical,
        q=q, num_restarts=num_restarts, raw_samples=raw_samples,
    )
    return X, "optimize_acqf_mixed_alternating"
