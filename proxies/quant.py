"""Simulated (fake) quantization and the HAWQ-V2 sensitivity Ω.

Weights use symmetric uniform quantization: ``Q_b(w) = s · clamp(round(w / s), -q, q)`` with
``q = 2^(b-1) - 1`` and ``s = max|w| / q``, per output channel (dimension 0) or per tensor.
Activations use the same grid over a calibrated clipping range, unsigned when the
calibration saw no negative value (e.g. after a ReLU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from proxies.hessian import Batch, eval_mode, quantizable_layers

MIN_BITS, MAX_BITS = 2, 16


class QuantizationError(ValueError):
    """An unsupported bit-width or a layer the model does not have."""


def check_bits(bits: int) -> int:
    """Return ``bits`` if it is an integer in ``[2, 16]``, else raise naming it."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise QuantizationError(f"bit-width {bits!r} is not supported: use an integer from "
                                f"{MIN_BITS} to {MAX_BITS}")
    return bits


def weight_scale(w: Tensor, bits: int, per_channel: bool = True) -> Tensor:
    """Step size ``s``: shape ``C x 1 x ... x 1`` per channel (``C = w.shape[0]``), else ``()``."""
    q = 2 ** (check_bits(bits) - 1) - 1
    if per_channel and w.dim() > 1:
        amax = w.detach().abs().reshape(w.shape[0], -1).amax(1)
        amax = amax.reshape(-1, *([1] * (w.dim() - 1)))
    else:
        amax = w.detach().abs().amax()
    return amax.clamp_min(1e-12) / q


def fake_quantize(w: Tensor, bits: int, per_channel: bool = True) -> Tensor:
    """``Q_b(w)``: symmetric uniform quantization, returned in ``w``'s dtype and shape."""
    q = 2 ** (check_bits(bits) - 1) - 1
    s = weight_scale(w, bits, per_channel)
    return torch.clamp(torch.round(w / s), -q, q) * s


def quantization_error(w: Tensor, bits: int, per_channel: bool = True) -> float:
    """``‖Q_b(w) - w‖²`` (squared Frobenius norm)."""
    with torch.no_grad():
        return float(((fake_quantize(w, bits, per_channel) - w) ** 2).sum())


def omega(trace: float, n_params: int, sq_error: float) -> float:
    """HAWQ-V2 sensitivity ``Ω = Tr(H)/n · ‖Q(W) - W‖²``."""
    return trace / n_params * sq_error


def omega_table(traces: Mapping[str, float], weights: Mapping[str, Tensor],
                bit_choices: Sequence[int], per_channel: bool = True) -> dict[str, dict[int, float]]:
    """``Ω_i(b)`` for every layer ``i`` of ``traces`` and every ``b`` in ``bit_choices``."""
    missing = sorted(set(traces) - set(weights))
    if missing:
        raise QuantizationError(f"no weight given for layer(s) {missing}")
    return {name: {b: omega(t, weights[name].numel(), quantization_error(weights[name], b, per_channel))
                   for b in bit_choices}
            for name, t in traces.items()}


@contextmanager
def quantized_weights(model: nn.Module, bits: Mapping[str, int],
                      per_channel: bool = True) -> Iterator[nn.Module]:
    """Within the block, each layer named in ``bits`` holds ``Q_b(W)``; restored afterwards."""
    layers = _layers(model, bits)
    saved = {n: m.weight.detach().clone() for n, m in layers.items()}
    try:
        with torch.no_grad():
            for n, m in layers.items():
                m.weight.copy_(fake_quantize(m.weight, bits[n], per_channel))
        yield model
    finally:
        with torch.no_grad():
            for n, m in layers.items():
                m.weight.copy_(saved[n])


def quantize_activation(x: Tensor, bits: int, clip: float, signed: bool = True) -> Tensor:
    """Fake-quantize activations to ``bits`` over ``[-clip, clip]`` (``[0, clip]`` unsigned)."""
    check_bits(bits)
    q = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    s = max(clip, 1e-12) / q
    return torch.clamp(torch.round(x / s), -q if signed else 0, q) * s


def calibrate_activations(model: nn.Module, batches: Sequence[Batch],
                          layers: Sequence[str] | None = None) -> dict[str, tuple[float, bool]]:
    """Per layer, ``(max |input|, signed)`` of the layer's input over ``batches``."""
    found = _layers(model, dict.fromkeys(layers or quantizable_layers(model), 8))
    stats: dict[str, tuple[float, bool]] = {n: (0.0, False) for n in found}

    def hook(name: str) -> Callable[[nn.Module, tuple[Tensor, ...]], None]:
        def record(_m: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            x = inputs[0].detach()
            amax, signed = stats[name]
            stats[name] = (max(amax, float(x.abs().max())), signed or bool((x < 0).any()))
        return record

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in found.items()]
    try:
        with eval_mode(model), torch.no_grad():
            for x, _ in batches:
                model(x)
    finally:
        for h in handles:
            h.remove()
    return stats


@contextmanager
def quantized_activations(model: nn.Module, bits: Mapping[str, int],
                          ranges: Mapping[str, tuple[float, bool]]) -> Iterator[nn.Module]:
    """Within the block, the input of each layer in ``bits`` is fake-quantized to its width
    over the range from :func:`calibrate_activations`."""
    layers = _layers(model, bits)
    missing = sorted(set(layers) - set(ranges))
    if missing:
        raise QuantizationError(f"no calibrated range for layer(s) {missing}: run calibrate_activations")

    def pre(name: str) -> Callable[[nn.Module, tuple[Tensor, ...]], tuple[Tensor, ...]]:
        clip, signed = ranges[name]
        return lambda _m, inputs: (quantize_activation(inputs[0], bits[name], clip, signed),
                                   *inputs[1:])

    handles = [m.register_forward_pre_hook(pre(n)) for n, m in layers.items()]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def _layers(model: nn.Module, bits: Mapping[str, int]) -> dict[str, nn.Module]:
    found = quantizable_layers(model)
    unknown = sorted(set(bits) - set(found))
    if unknown:
        raise QuantizationError(f"unknown layer(s) {unknown}: the model's layers are {list(found)}")
    for b in bits.values():
        check_bits(b)
    return {n: found[n] for n in bits}
