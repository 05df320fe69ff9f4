"""``fisher`` (Turner et al. 2020, as in the zero-cost proxy suites): for every activation
module's output ``a`` (units along the last dimension) and its gradient ``g = ∂L/∂a`` (L the
batch's mean loss), ``s = Σ_positions a·g`` per example and unit; the score is
Σ_units ½·mean_examples s², averaged over the batches. Gradients are cleared afterwards."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from proxies.zero_cost import register
from proxies.zero_cost.base import ACTIVATIONS, Batch, clear_grads, eval_mode


def unit_terms(a: Tensor, g: Tensor) -> Tensor:
    """½·mean_b (Σ_pos a·g)² per unit (the last dimension)."""
    s = (a.double() * g.double()).reshape(a.shape[0], -1, a.shape[-1]).sum(1)
    return 0.5 * (s**2).mean(0)


def _one_batch(model: nn.Module, b: Batch) -> float:
    outs: list[Tensor] = []

    def keep(_m: nn.Module, _i: tuple[Tensor, ...], out: Tensor) -> None:
        out.retain_grad()
        outs.append(out)

    handles = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        model.zero_grad(set_to_none=True)
        b.loss(model(*b.inputs), b.labels).backward()
    finally:
        for h in handles:
            h.remove()
    return float(sum(unit_terms(a.detach(), a.grad).sum() for a in outs if a.grad is not None))


@register("fisher")
def fisher(model: nn.Module, batches: list[Batch]) -> float:
    with eval_mode(model), torch.enable_grad():
        out = sum(_one_batch(model, b) for b in batches) / len(batches)
    clear_grads(model)
    return float(out)
