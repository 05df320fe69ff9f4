"""``snip`` (Lee et al. 2019): Σ |θ ⊙ ∂L/∂θ|, L the mean loss over the batches. Gradients
are cleared afterwards."""

from __future__ import annotations

from torch import nn

from proxies.zero_cost import register
from proxies.zero_cost.base import Batch, clear_grads, eval_mode, mean_loss_backward, weights


@register("snip")
def snip(model: nn.Module, batches: list[Batch]) -> float:
    with eval_mode(model):
        mean_loss_backward(model, batches)
        out = float(sum((p.detach().double() * p.grad.double()).abs().sum() for _, p in weights(model)))
    clear_grads(model)
    return out
