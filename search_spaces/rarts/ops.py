"""Candidate operations of a DARTS-style cell, in 1-D (signals) and 2-D (images).

``OPS`` maps an operation name to a factory ``(channels, stride, dim, affine) -> nn.Module``.
Every operation keeps the channel count and divides the spatial size by ``stride`` (1 or 2),
so any of them can sit on any edge of a cell. ``none`` is the zero operation: it lets the
search switch an edge off, and derivation never keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

OpFactory = Callable[[int, int, int, bool], nn.Module]


def conv(dim: int) -> type[nn.Module]:
    return nn.Conv1d if dim == 1 else nn.Conv2d


def norm(dim: int, channels: int, affine: bool) -> nn.Module:
    return (nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d)(channels, affine=affine)


class Zero(nn.Module):
    """The ``none`` operation: zeros of the output shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * (x.dim() - 2)
        return x[index].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the spatial size without losing half the positions: two offset 1x1 convs."""

    def __init__(self, c_in: int, c_out: int, dim: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.a = conv(dim)(c_in, c_out // 2, 1, stride=2, bias=False)
        self.b = conv(dim)(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = norm(dim, c_out, affine)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        shifted = x[(slice(None), slice(None)) + (slice(1, None),) * (x.dim() - 2)]
        return self.bn(torch.cat([self.a(x), self.b(shifted)], dim=1))


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int, dim: int, affine: bool) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        conv(dim)(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        norm(dim, c_out, affine),
    )


def dil_conv(c: int, kernel: int, stride: int, dilation: int, dim: int, affine: bool) -> nn.Module:
    """ReLU, depthwise (dilated) conv, pointwise conv, norm."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.ReLU(inplace=False),
        conv(dim)(c, c, kernel, stride=stride, padding=pad, dilation=dilation, groups=c, bias=False),
        conv(dim)(c, c, 1, bias=False),
        norm(dim, c, affine),
    )


def sep_conv(c: int, kernel: int, stride: int, dim: int, affine: bool) -> nn.Module:
    """Two separable convolutions in a row (the first carries the stride), as in DARTS."""
    return nn.Sequential(dil_conv(c, kernel, stride, 1, dim, affine), dil_conv(c, kernel, 1, 1, dim, affine))


def pool(kind: str, stride: int, dim: int) -> nn.Module:
    if kind == "max":
        return (nn.MaxPool1d if dim == 1 else nn.MaxPool2d)(3, stride=stride, padding=1)
    return (nn.AvgPool1d if dim == 1 else nn.AvgPool2d)(3, stride=stride, padding=1, count_include_pad=False)


def skip(c: int, stride: int, dim: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, dim, affine)


OPS: dict[str, OpFactory] = {
    "none": lambda c, s, d, a: Zero(s),
    "skip_connect": skip,
    "max_pool_3x3": lambda c, s, d, a: pool("max", s, d),
    "avg_pool_3x3": lambda c, s, d, a: pool("avg", s, d),
    "sep_conv_3x3": lambda c, s, d, a: sep_conv(c, 3, s, d, a),
    "sep_conv_5x5": lambda c, s, d, a: sep_conv(c, 5, s, d, a),
    "dil_conv_3x3": lambda c, s, d, a: dil_conv(c, 3, s, 2, d, a),
}
PRIMITIVES: tuple[str, ...] = tuple(OPS)


def make_op(name: str, channels: int, stride: int, dim: int, affine: bool) -> nn.Module:
    """The operation ``name`` (a key of :data:`OPS`); KeyError names the choices."""
    if name not in OPS:
        raise KeyError(f"unknown operation {name!r}: choose from {list(OPS)}")
    return OPS[name](channels, stride, dim, affine)
