"""Analytic log expected hypervolume improvement of one point, for ``mobo`` in mixed and
discrete spaces.

With independent Gaussian outputs ``Y_j ~ N(mu_j, sigma_j^2)`` (maximization) and the
region the current front does not dominate split into boxes ``[l, u]``, the improvement of
a point is ``sum_boxes prod_j clip(Y_j - l_j, 0, u_j - l_j)``. Independence lets the
expectation factor per box: ``E[clip(Y - l, 0, u - l)] = psi(l) - psi(u)`` with
``psi(a) = E[(Y - a)^+] = sigma h((mu - a) / sigma)`` and ``h(z) = phi(z) + z Phi(z)``.
Everything is summed in log space, so a candidate far from any gain still ranks against
the others instead of all reading zero. Exact, no Monte-Carlo samples, and cheap enough to
score thousands of candidates per call; ``mobo`` scores candidates this way where the
search is over discrete choices (see :mod:`._search`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from torch import Tensor

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_ASYMPTOTIC = -1e3  # below this z, log h(z) ~ log phi(z) - 2 log|z|


def log_h(z: Tensor) -> Tensor:
    """``log(phi(z) + z Phi(z))``, accurate for every ``z`` (``-inf`` gives ``-inf``).

    For ``z < -1`` the direct sum cancels; there ``h(z) = phi(z) (1 + z Phi(z) / phi(z))``
    and ``Phi(z) / phi(z) = sqrt(pi / 2) erfcx(-z / sqrt 2)``.
    """
    direct = torch.log(torch.exp(-0.5 * z.clamp_min(-1).pow(2) - _LOG_SQRT_2PI)
                       + z.clamp_min(-1) * torch.special.ndtr(z.clamp_min(-1)))
    zt = z.clamp(_ASYMPTOTIC, -1)
    tail = (-0.5 * zt.pow(2) - _LOG_SQRT_2PI
            + torch.log1p(zt * math.sqrt(math.pi / 2) * torch.special.erfcx(-zt / math.sqrt(2))))
    far = -0.5 * z.pow(2) - _LOG_SQRT_2PI - 2 * torch.log(-z.clamp_max(_ASYMPTOTIC))
    return torch.where(z >= -1, direct, torch.where(z >= _ASYMPTOTIC, tail, far))


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate on both sides of ``-log 2``."""
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_box_gain(mean: Tensor, std: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """``log E[clip(Y - l, 0, u - l)]`` for ``Y ~ N(mean, std^2)``.

    Args:
        mean, std: ``N x 1 x m``; lower, upper: ``C x m`` (``upper`` may be ``inf``).
    Returns: ``N x C x m``.
    """
    hl = log_h((mean - lower) / std)
    hu = log_h((mean - upper) / std)  # -inf where upper is inf
    return torch.log(std) + hl + log1mexp((hu - hl).clamp_max(0.0))


def log_ehvi(mean: Tensor, var: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """Log EHVI of each of ``N`` points (``mean``, ``var``: ``N x m``) over boxes ``C x m``.
    ``-inf`` where no box is left (the front already dominates everything)."""
    if not len(lower):
        return torch.full(mean.shape[:1], -math.inf, dtype=mean.dtype)
    gain = log_box_gain(mean.unsqueeze(-2), var.sqrt().unsqueeze(-2), lower, upper)
    return torch.logsumexp(gain.sum(-1), dim=-1)


def improvement_boxes(Y: Tensor, ref: Tensor, caps: Tensor | None) -> tuple[Tensor, Tensor]:
    """The region ``Y`` (``n x m``, maximization) leaves undominated above ``ref``, as boxes
    (lower and upper, ``C x m``), each side capped at ``caps`` (``m``) where given; boxes left
    empty by the caps are dropped."""
    Y = Y[(Y > ref).all(dim=-1)]
    if Y.shape[-1] == 1:  # one objective: the gain is above the best value (EI)
        lower = torch.cat([Y, ref.unsqueeze(0)]).max(dim=0, keepdim=True).values
        upper = torch.full_like(lower, torch.inf)
    else:
        lower, upper = FastNondominatedPartitioning(ref_point=ref, Y=Y).get_hypercell_bounds()
    if caps is not None:
        upper = torch.minimum(upper, caps)
    keep = (upper > lower).all(dim=-1)
    return lower[keep], upper[keep]


def log_feasibility(mean: Tensor, var: Tensor, bounds: list[tuple[int, float | None, float | None]]) -> Tensor:
    """``log P(every constraint holds)`` under independent Gaussian outputs (``N x k``);
    ``bounds``: (output column, lower or None, upper or None) per constrained output."""
    out = torch.zeros(mean.shape[:1], dtype=mean.dtype)
    for col, lo, hi in bounds:
        std = var[:, col].sqrt()
        if hi is not None:
            out = out + torch.special.log_ndtr((hi - mean[:, col]) / std)
        if lo is not None:
            out = out + torch.special.log_ndtr((mean[:, col] - lo) / std)
    return out


def make_log_ehvi(
    predict: Callable[[Tensor], tuple[Tensor, Tensor]],
    m: int,
    lower: Tensor,
    upper: Tensor,
    bounds: list[tuple[int, float | None, float | None]],
) -> Callable[[Tensor], Tensor]:
    """The acquisition ``X (N x d) -> N`` scores: log EHVI of the first ``m`` predicted
    outputs (maximization) over the boxes, plus the log probability of feasibility."""

    def score(X: Tensor) -> Tensor:
        mean, var = predict(X)
        return log_ehvi(mean[:, :m], var[:, :m], lower, upper) + log_feasibility(mean, var, bounds)

    return score
