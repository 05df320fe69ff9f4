"""Zero-cost proxies, one module each, registered by name; ``score(name, model, batch)``.

Every proxy takes a torch module and one or more :class:`Batch` es of real inputs and
returns one float (higher is meant to predict a better trained network, except ``params``
and ``flops``, which are sizes). Modules are imported on first use, so listing the names
loads nothing heavy.

=============  =====================================================================
``params``     trainable parameter count
``flops``      forward FLOPs per example (``torch.utils.flop_counter.FlopCounterMode``)
``synflow``    Σ θ ⊙ ∂R/∂θ with |θ| weights, all-ones float inputs (Tanaka et al. 2020)
``naswot``     log |K| of the activation-pattern kernel (Mellor et al. 2021)
``grad_norm``  Σ over parameter tensors of ‖∂L/∂θ‖₂ (Abdelfattah et al. 2021)
``snip``       Σ |θ ⊙ ∂L/∂θ| (Lee et al. 2019)
``fisher``     Σ over activation units of ½·mean_b (Σ_pos a·∂L/∂a)² (Turner et al. 2020)
``wpca``       W-PCA: params × Σ_l k_l(η) (Wang, ICLR 2025); ``pca``: Σ_l k_l(η) alone
=============  =====================================================================
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from torch import nn

from proxies.zero_cost.base import Batch, ProxyError

ProxyFn = Callable[[nn.Module, list[Batch]], float]

_BUILTIN: dict[str, str] = {
    "params": "proxies.zero_cost.params",
    "flops": "proxies.zero_cost.flops",
    "synflow": "proxies.zero_cost.synflow",
    "naswot": "proxies.zero_cost.naswot",
    "grad_norm": "proxies.zero_cost.grad_norm",
    "snip": "proxies.zero_cost.snip",
    "fisher": "proxies.zero_cost.fisher",
    "wpca": "proxies.zero_cost.wpca",
    "pca": "proxies.zero_cost.wpca",
}
_REGISTRY: dict[str, ProxyFn] = {}
GRADIENT_BASED = ("synflow", "grad_norm", "snip", "fisher")


def register(name: str) -> Callable[[ProxyFn], ProxyFn]:
    """Register a proxy function under ``name``; a second, different one is refused."""

    def deco(fn: ProxyFn) -> ProxyFn:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ProxyError(f"a proxy named {name!r} is already registered ({_REGISTRY[name].__module__})")
        _REGISTRY[name] = fn
        return fn

    return deco


def proxy_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_proxy(name: str) -> ProxyFn:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise ProxyError(f"unknown proxy {name!r}: choose one of {proxy_names()}")
    return _REGISTRY[name]


def score(name: str, model: nn.Module, batch: Batch | Sequence[Batch]) -> float:
    """The proxy ``name`` of ``model`` on ``batch`` (one :class:`Batch` or several)."""
    batches = [batch] if isinstance(batch, Batch) else list(batch)
    if not batches:
        raise ProxyError("score needs at least one batch")
    return float(get_proxy(name)(model, batches))


__all__ = ["GRADIENT_BASED", "Batch", "ProxyError", "get_proxy", "proxy_names", "register", "score"]
