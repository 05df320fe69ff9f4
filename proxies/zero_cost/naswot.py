"""``naswot`` (Mellor et al. 2021): each example's binary code is whether every activation
unit (outputs of ReLU/GELU/SiLU/Tanh/LeakyReLU modules, all positions) is positive; with codes
``C`` (examples x units) the kernel is ``K = C Cᵀ + (1-C)(1-C)ᵀ`` (units that agree) and the
score is log|det K| (−inf when K is singular)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from proxies.zero_cost import register
from proxies.zero_cost.base import ACTIVATIONS, Batch, eval_mode


def codes(model: nn.Module, batches: list[Batch]) -> Tensor:
    """Binary activation codes, one row per example."""
    rows: list[Tensor] = []
    parts: list[Tensor] = []

    def keep(_m: nn.Module, _i: tuple[Tensor, ...], out: Tensor) -> None:
        parts.append((out > 0).reshape(out.shape[0], -1))

    handles = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with eval_mode(model), torch.no_grad():
            for b in batches:
                parts.clear()
                model(*b.inputs)
                rows.append(torch.cat(parts, 1))
    finally:
        for h in handles:
            h.remove()
    return torch.cat(rows).double()


def kernel(c: Tensor) -> Tensor:
    return c @ c.T + (1 - c) @ (1 - c).T


@register("naswot")
def naswot(model: nn.Module, batches: list[Batch]) -> float:
    return float(torch.linalg.slogdet(kernel(codes(model, batches)))[1])
