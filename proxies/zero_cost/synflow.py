"""``synflow`` (Tanaka et al. 2020): on a float64 copy with every weight replaced by its
absolute value, R = Σ model(1) over the first batch with float inputs set to ones (integer
inputs such as token ids are kept: they index embeddings); the score is Σ_θ θ · ∂R/∂θ.
The caller's model is not touched."""

from __future__ import annotations

import copy

import torch
from torch import nn

from proxies.zero_cost import register
from proxies.zero_cost.base import Batch


@register("synflow")
def synflow(model: nn.Module, batches: list[Batch]) -> float:
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    inputs = [torch.ones_like(x, dtype=torch.float64) if x.is_floating_point() else x for x in batches[0].inputs]
    net.zero_grad(set_to_none=True)
    net(*inputs).sum().backward()
    return float(sum((p.detach() * p.grad).sum() for p in net.parameters() if p.grad is not None))
