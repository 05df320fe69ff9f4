"""``grad_norm`` (Abdelfattah et al. 2021): Σ over parameter tensors of ‖∂L/∂θ‖₂, L the
mean loss over the batches. Gradients are cleared afterwards."""

from __future__ import annotations

from torch import nn

from proxies.zero_cost import register
from proxies.zero_cost.base import Batch, clear_grads, eval_mode, mean_loss_backward, weights


@register("grad_norm")
def grad_norm(model: nn.Module, batches: list[Batch]) -> float:
    with eval_mode(model):
        mean_loss_backward(model, batches)
        out = float(sum(p.grad.double().norm() for _, p in weights(model)))
    clear_grads(model)
    return out
