"""``wpca`` and ``pca`` in the proxy registry, at the default η (see :mod:`proxies.wpca`)."""

from __future__ import annotations

from torch import nn

from proxies.wpca import pca_score, wpca_score
from proxies.zero_cost import register
from proxies.zero_cost.base import Batch


@register("wpca")
def wpca(model: nn.Module, batches: list[Batch]) -> float:
    return wpca_score(model, batches)


@register("pca")
def pca(model: nn.Module, batches: list[Batch]) -> float:
    return pca_score(model, batches)
