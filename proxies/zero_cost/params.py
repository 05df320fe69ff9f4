"""``params``: the number of trainable parameters."""

from __future__ import annotations

from torch import nn

from proxies.zero_cost import register
from proxies.zero_cost.base import Batch


@register("params")
def params(model: nn.Module, batches: list[Batch]) -> float:
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))
