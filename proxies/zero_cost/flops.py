"""``flops``: forward FLOPs per example, counted by ``torch.utils.flop_counter.FlopCounterMode``
(a multiply-add is 2 FLOPs; operators it has no formula for count 0)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from proxies.zero_cost import register
from proxies.zero_cost.base import Batch, eval_mode


@register("flops")
def flops(model: nn.Module, batches: list[Batch]) -> float:
    counter = FlopCounterMode(display=False)
    examples = 0
    with eval_mode(model), torch.no_grad(), counter:
        for b in batches:
            model(*b.inputs)
            examples += int(b.labels.shape[0])
    return counter.get_total_flops() / max(examples, 1)
