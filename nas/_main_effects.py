"""An additive kernel with one scaled term per input, for the importance surrogate.

``k(x, x') = Σ_j σ_j² k_j(x_j, x_j')`` with ``k_j = exp(-(x_j - x_j')² / 2ℓ_j²)`` for an
ordinal input (the lengthscale prior and floor botorch gives a one-dimensional input) and
``k_j = exp(-[x_j ≠ x_j'] / ℓ_j)`` for a categorical one (botorch's categorical kernel on one
column). One vectorized module rather than ``d`` gpytorch kernels summed: the fit and the
evaluation on Saltelli designs cost a small multiple of one ARD kernel's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.kernels import Kernel
from gpytorch.priors import LogNormalPrior


class MainEffectsKernel(Kernel):
    """``Σ_j σ_j² k_j(x_j, x_j')``; ``categorical[j]`` says which columns hold category indices."""

    has_lengthscale = True

    def __init__(self, categorical: Sequence[bool]) -> None:
        d = len(categorical)
        super().__init__(
            ard_num_dims=d,
            lengthscale_prior=LogNormalPrior(loc=2**0.5, scale=3**0.5),
            lengthscale_constraint=GreaterThan(2.5e-2),
        )
        self.register_buffer("categorical", torch.tensor(list(categorical), dtype=torch.bool))
        self.register_parameter("raw_outputscale", torch.nn.Parameter(torch.zeros(d)))
        self.register_constraint("raw_outputscale", Positive())

    @property
    def outputscale(self) -> torch.Tensor:
        return self.raw_outputscale_constraint.transform(self.raw_outputscale)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params: Any) -> torch.Tensor:
        if diag:
            return self.outputscale.sum().expand(x1.shape[:-1]).to(x1)
        ls, scale, cat = self.lengthscale.reshape(-1), self.outputscale, self.categorical
        out = 0.0
        if not bool(cat.all()):
            o = ~cat
            diff = (x1[..., o] / ls[o]).unsqueeze(-2) - (x2[..., o] / ls[o]).unsqueeze(-3)  # ... n x m x d'
            if torch.is_grad_enabled():
                k = torch.exp(-0.5 * diff.square())
            else:  # in place: evaluating on a Saltelli design is memory-bound
                k = diff.square_().mul_(-0.5).exp_()
            out = k @ scale[o]
        if bool(cat.any()):
            same = x1[..., cat].unsqueeze(-2) == x2[..., cat].unsqueeze(-3)
            out = out + torch.where(same, 1.0, torch.exp(-1 / ls[cat])).to(x1) @ scale[cat]
        return out
