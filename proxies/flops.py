"""Per-layer cost model of a quantized network: model size, BOPs and a latency estimate.

Counts come from one forward pass with hooks on the quantizable layers. Costs of a bit
assignment ``b_i`` (weights) with activations at ``a`` bits:

* size   = (Σ_i n_i · b_i / 8 + fixed_bytes) / 10⁶ MB, where ``fixed_bytes`` holds every
  parameter that is not a quantized weight (biases, norms) at 32 bits;
* BOPs   = Σ_i MACs_i · b_i · a (per sample), as in HAWQ-V3;
* latency = Σ_i max(compute_i, memory_i) µs, a roofline: integer kernels run at
  ``macs_per_us`` for 8-bit operands, twice as fast when both operands fit in 4 bits and
  half as fast above 8 bits; memory moves the weights and the input activation at
  ``bytes_per_us``. It is a model, not a measurement: pass measured per-layer tables to
  :func:`proxies.bitalloc.ilp_allocate` where you have them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from proxies.hessian import eval_mode, quantizable_layers


@dataclass(frozen=True)
class LayerCost:
    """Counts of one layer, per input sample."""

    name: str
    kind: str  # "linear" or "conv"
    n_params: int  # weight elements
    macs: int  # multiply-accumulates per sample
    in_numel: int  # input activation elements per sample


def layer_costs(model: nn.Module, example: Tensor,
                layers: Sequence[str] | None = None) -> dict[str, LayerCost]:
    """Count each layer's weights, MACs and input size with one forward pass of ``example``
    (shape ``B x ...``; counts are divided by ``B``)."""
    found = quantizable_layers(model)
    names = list(found) if layers is None else list(layers)
    out: dict[str, LayerCost] = {}
    batch = example.shape[0]

    def hook(name: str, m: nn.Module) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def record(_m: nn.Module, inputs: tuple[Tensor, ...], y: Tensor) -> None:
            per_out = m.in_features if isinstance(m, nn.Linear) else (
                m.in_channels // m.groups * math.prod(m.kernel_size))
            out[name] = LayerCost(name, "linear" if isinstance(m, nn.Linear) else "conv",
                                  m.weight.numel(), y.numel() // batch * per_out,
                                  inputs[0].numel() // batch)
        return record

    handles = [found[n].register_forward_hook(hook(n, found[n])) for n in names]
    try:
        with eval_mode(model), torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return {n: out[n] for n in names}


@dataclass(frozen=True)
class CostModel:
    """Size, BOPs and latency of a bit assignment over ``layers`` (in that order)."""

    layers: tuple[LayerCost, ...]
    fixed_bytes: float = 0.0
    act_bits: int = 8
    macs_per_us: float = 1.0e6  # 8-bit integer MACs per microsecond (1 TMAC/s)
    bytes_per_us: float = 1.0e4  # memory bandwidth, bytes per microsecond (10 GB/s)

    @classmethod
    def of(cls, model: nn.Module, example: Tensor, layers: Sequence[str] | None = None,
           act_bits: int = 8) -> CostModel:
        """Build the cost model of ``model``; parameters outside ``layers``' weights are fixed."""
        costs = layer_costs(model, example, layers)
        quantized = sum(c.n_params for c in costs.values())
        total = sum(p.numel() for p in model.parameters())
        return cls(tuple(costs.values()), 4.0 * (total - quantized), act_bits)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.layers]

    def tables(self, bit_choices: Sequence[int]) -> dict[str, np.ndarray]:
        """Per-layer costs at each bit-width: ``L x K`` arrays ``size_mb`` (without the fixed
        part), ``bops`` and ``latency_us``."""
        b = np.asarray(bit_choices, dtype=float)[None, :]
        n = np.array([c.n_params for c in self.layers], dtype=float)[:, None]
        macs = np.array([c.macs for c in self.layers], dtype=float)[:, None]
        act = np.array([c.in_numel for c in self.layers], dtype=float)[:, None]
        speed = np.vectorize(lambda w: _kernel_cost(int(w), self.act_bits))(b)
        compute = macs * speed / self.macs_per_us
        memory = (n * b / 8 + act * self.act_bits / 8) / self.bytes_per_us
        return {"size_mb": n * b / 8 / 1e6, "bops": macs * b * self.act_bits,
                "latency_us": np.maximum(compute, memory)}

    def totals(self, bits: Sequence[int]) -> dict[str, float]:
        """``size_mb``, ``bops`` and ``latency_us`` of one assignment (one width per layer)."""
        if len(bits) != len(self.layers):
            raise ValueError(f"{len(bits)} bit-widths given for {len(self.layers)} layers "
                             f"{self.names}")
        t = self.tables(sorted(set(bits)))
        col = {b: i for i, b in enumerate(sorted(set(bits)))}
        rows = range(len(bits))
        out = {k: float(sum(v[i, col[b]] for i, b in zip(rows, bits, strict=True)))
               for k, v in t.items()}
        out["size_mb"] += self.fixed_bytes / 1e6
        return out


def _kernel_cost(w_bits: int, a_bits: int) -> float:
    """Relative time of one MAC: 0.5 for 4-bit kernels, 1 for 8-bit, 2 for wider."""
    widest = max(w_bits, a_bits)
    return 0.5 if widest <= 4 else (1.0 if widest <= 8 else 2.0)
