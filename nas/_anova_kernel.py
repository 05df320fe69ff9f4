"""An ANOVA kernel for the importance surrogate: one switchable factor per input.

``k(x, x') = Π_j (1 + w_j k_j(x_j, x_j'))`` with ``k_j = exp(-(x_j - x_j')² / 2ℓ_j²)`` for an
ordinal input (the lengthscale prior and floor botorch gives a one-dimensional input) and
``k_j = exp(-[x_j ≠ x_j'] / ℓ_j)`` for a categorical one (botorch's categorical kernel on one
column). Expanded, the product is a sum over every subset S of inputs of
``Π_{j∈S} w_j k_j``: a constant, one main-effect term per input, one term per pair, and so
on, which is the shape of a Sobol (functional ANOVA) decomposition. An input the function
ignores is switched off by ``w_j → 0`` in every term at once, where an ARD product kernel
can only stretch its lengthscale; and main effects need no interaction to carry them.
One vectorized module: the fit and the evaluation on Saltelli designs cost a small multiple
of one ARD kernel's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.kernels import Kernel
from gpytorch.priors import LogNormalPrior


class AnovaKernel(Kernel):
    """``Π_j (1 + w_j k_j(x_j, x_j'))``; ``categorical[j]`` says which columns hold category indices."""

    has_lengthscale = True

    def __init__(self, categorical: Sequence[bool]) -> None:
        d = len(categorical)
        super().__init__(
            ard_num_dims=d,
            lengthscale_prior=LogNormalPrior(loc=2**0.5, scale=3**0.5),
            lengthscale_constraint=GreaterThan(2.5e-2),
        )
        self.register_buffer("categorical", torch.tensor(list(categorical), dtype=torch.bool))
        self.register_parameter("raw_weight", torch.nn.Parameter(torch.zeros(d)))
        self.register_constraint("raw_weight", Positive())

    @property
    def weight(self) -> torch.Tensor:
        """``w_j``: how much input ``j`` moves the function, alone and in interactions."""
        return self.raw_weight_constraint.transform(self.raw_weight)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: Any) -> torch.Tensor:
        if diag:
            return torch.prod(1 + self.weight).expand(x1.shape[:-1]).to(x1)
        ls, cat = self.lengthscale.reshape(-1), self.categorical
        grad = torch.is_grad_enabled()
        out = torch.ones(x1.shape[:-1] + x2.shape[-2:-1], dtype=x1.dtype, device=x1.device)
        if not bool(cat.all()):
            o = ~cat
            diff = (x1[..., o] / ls[o]).unsqueeze(-2) - (x2[..., o] / ls[o]).unsqueeze(-3)  # ... n x m x d'
            # in place without autograd: evaluating on a Saltelli design is memory-bound
            k = torch.exp(-0.5 * diff.square()) if grad else diff.square_().mul_(-0.5).exp_()
            out = out * _factors(k, self.weight[o], grad).prod(-1)
        if bool(cat.any()):
            same = x1[..., cat].unsqueeze(-2) == x2[..., cat].unsqueeze(-3)
            k = torch.where(same, 1.0, torch.exp(-1 / ls[cat])).to(x1)
            out = out * _factors(k, self.weight[cat], grad).prod(-1)
        return out


def _factors(k: torch.Tensor, weight: torch.Tensor, grad: bool) -> torch.Tensor:
    """``1 + w_j k_j`` for each column of ``k`` (``... x d'``)."""
    return 1 + weight * k if grad else k.mul_(weight).add_(1)
