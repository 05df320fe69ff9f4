"""The shape of a TAS network and its FLOPs: exact for one architecture, expected under the
search distributions, and the paper's cost loss against a FLOPs target (pure functions).

A network is a stem conv, ``S`` stages of residual blocks and a linear head. Block ``j`` of
stage ``s`` is ``conv_a`` (3 wide, input → inner width ``a``), ``conv_b`` (3 wide, ``a`` →
the stage width ``o_s``), and in the first block of a stage a 1-wide projection shortcut
(input → ``o_s``, with the stage's stride); later blocks add their input unchanged. Layers
whose outputs meet in a residual sum share one width, the stage width, so every searched
width is the width of a real layer: the stem, each stage, and each block's inner conv.

FLOPs count multiply-adds as two operations in convolutions and the head (as
``torch.utils.flop_counter.FlopCounterMode`` does); batch norm, ReLU, the residual sums and
pooling are not counted. Convolutions have no bias (a batch norm follows each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

KERNEL = 3


@dataclass(frozen=True)
class Geometry:
    """The unpruned network: input shape, widths, blocks per stage and strides."""

    in_channels: int
    size: int  # input length (1-D) or side (2-D)
    dims: int  # 1 or 2
    stem: int  # stem width
    widths: tuple[int, ...]  # width of each stage
    blocks: int  # blocks per stage (the most a stage can keep)
    strides: tuple[int, ...]  # stride of each stage's first block
    classes: int = 10

    @property
    def stages(self) -> int:
        return len(self.widths)


@dataclass(frozen=True)
class Arch:
    """One network: stem width, stage widths and each kept block's inner width.

    ``inner[s]`` has one entry per kept block of stage ``s``; its length is the stage's depth.
    """

    stem: int
    widths: tuple[int, ...]
    inner: tuple[tuple[int, ...], ...]

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(i) for i in self.inner)

    def to_json(self) -> dict[str, object]:
        return {
            "stem": self.stem,
            "widths": list(self.widths),
            "inner": [list(i) for i in self.inner],
            "depths": list(self.depths),
        }


def full_arch(g: Geometry) -> Arch:
    """The unpruned network: every width at its most, every block kept."""
    return Arch(g.stem, g.widths, tuple((w,) * g.blocks for w in g.widths))


def candidate_widths(full: int, fractions: Sequence[float]) -> tuple[int, ...]:
    """Distinct channel counts ``max(1, round(f * full))``, ascending."""
    if not fractions:
        raise ValueError("the candidate list of width fractions is empty; give e.g. [0.25, 0.5, 0.75, 1.0]")
    return tuple(sorted({max(1, round(f * full)) for f in fractions}))


def stage_sizes(g: Geometry) -> tuple[int, ...]:
    """Spatial elements per sample at each stage's output (``ceil(n / stride)`` per axis)."""
    n, out = g.size, []
    for st in g.strides:
        n = -(-n // st)
        out.append(n**g.dims)
    return tuple(out)


def _conv(cin: float | Tensor, cout: float | Tensor, k: int, dims: int, spatial: int) -> float | Tensor:
    return 2 * cin * cout * k**dims * spatial


def flops(arch: Arch, g: Geometry) -> int:
    """FLOPs per sample of ``arch`` (see the module doc for what is counted)."""
    total = _conv(g.in_channels, arch.stem, KERNEL, g.dims, g.size**g.dims)
    cin = arch.stem
    for s, spatial in enumerate(stage_sizes(g)):
        o = arch.widths[s]
        for j, a in enumerate(arch.inner[s]):
            src = cin if j == 0 else o
            total += _conv(src, a, KERNEL, g.dims, spatial) + _conv(a, o, KERNEL, g.dims, spatial)
            if j == 0:
                total += _conv(src, o, 1, g.dims, spatial)
        cin = o
    return int(total + 2 * cin * g.classes)


@dataclass(frozen=True)
class Distributions:
    """Probabilities of the search: ``stem`` over its candidate widths, ``widths[s]`` over
    stage ``s``'s, ``inner[s][j]`` over block ``j``'s inner widths, ``depth[s]`` over depths
    ``1..blocks`` (each a 1-D tensor summing to one), with the candidate widths alongside."""

    stem: Tensor
    widths: tuple[Tensor, ...]
    inner: tuple[tuple[Tensor, ...], ...]
    depth: tuple[Tensor, ...]


@dataclass(frozen=True)
class Candidates:
    """Candidate channel counts of every searched width (same layout as :class:`Distributions`)."""

    stem: tuple[int, ...]
    widths: tuple[tuple[int, ...], ...]
    inner: tuple[tuple[tuple[int, ...], ...], ...]

    @classmethod
    def of(cls, g: Geometry, fractions: Sequence[float]) -> Candidates:
        return cls(
            candidate_widths(g.stem, fractions),
            tuple(candidate_widths(w, fractions) for w in g.widths),
            tuple((candidate_widths(w, fractions),) * g.blocks for w in g.widths),
        )


def _mean(p: Tensor, choices: Sequence[int]) -> Tensor:
    return (p * torch.tensor(choices, dtype=p.dtype)).sum()


def keep_probability(depth: Tensor) -> Tensor:
    """``P(depth > j)`` for each block ``j`` (0-based) from probabilities over depths 1..B."""
    return depth.flip(0).cumsum(0).flip(0)


def expected_flops(p: Distributions, c: Candidates, g: Geometry) -> Tensor:
    """E[FLOPs] under independent widths and depths: exact, because FLOPs are bilinear in the
    widths of distinct layers and a block counts only when its stage keeps it (``P(depth > j)``)."""
    stem = _mean(p.stem, c.stem)
    total = _conv(g.in_channels, stem, KERNEL, g.dims, g.size**g.dims)
    cin = stem
    for s, spatial in enumerate(stage_sizes(g)):
        o = _mean(p.widths[s], c.widths[s])
        keep = keep_probability(p.depth[s])
        for j in range(g.blocks):
            a = _mean(p.inner[s][j], c.inner[s][j])
            src = cin if j == 0 else o
            block = _conv(src, a, KERNEL, g.dims, spatial) + _conv(a, o, KERNEL, g.dims, spatial)
            if j == 0:
                block = block + _conv(src, o, 1, g.dims, spatial)
            total = total + keep[j] * block
        cin = o
    return total + 2 * cin * g.classes


def cost_loss(expected: Tensor, argmax_flops: float, target: float, tolerance: float = 0.05) -> Tensor:
    """The TAS cost loss: ``log E[cost]`` when the most likely network's FLOPs exceed
    ``(1 + t) * target``, ``-log E[cost]`` when they fall under ``(1 - t) * target``, and zero
    inside that band."""
    if target <= 0:
        raise ValueError(f"FLOPs target {target!r} must be positive")
    if argmax_flops > (1 + tolerance) * target:
        return torch.log(expected)
    if argmax_flops < (1 - tolerance) * target:
        return -torch.log(expected)
    return expected.new_zeros(())


def argmax_arch(p: Distributions, c: Candidates) -> Arch:
    """The most likely network: each width's and each depth's most probable choice."""

    def pick(q: Tensor, ch: Sequence[int]) -> int:
        return int(ch[int(q.argmax())])

    inner = tuple(
        tuple(pick(p.inner[s][j], c.inner[s][j]) for j in range(int(p.depth[s].argmax()) + 1))
        for s in range(len(p.depth))
    )
    return Arch(pick(p.stem, c.stem), tuple(pick(q, ch) for q, ch in zip(p.widths, c.widths, strict=True)), inner)


def scaled_arch(g: Geometry, multiplier: float) -> Arch:
    """Every width times ``multiplier`` (rounded, at least one channel), every block kept."""

    def w(n: int) -> int:
        return max(1, round(multiplier * n))

    return Arch(w(g.stem), tuple(w(n) for n in g.widths), tuple((w(n),) * g.blocks for n in g.widths))


def uniform_at_flops(g: Geometry, budget: float, steps: int = 400) -> Arch:
    """The uniformly scaled network whose FLOPs come closest to ``budget``."""
    archs = (scaled_arch(g, k / steps) for k in range(1, steps + 1))
    return min(archs, key=lambda a: (abs(flops(a, g) - budget), flops(a, g)))


def relative(arch: Arch, g: Geometry) -> float:
    """FLOPs of ``arch`` as a fraction of the unpruned network's."""
    return flops(arch, g) / flops(full_arch(g), g)
