"""The derived network inside the FLOPs band (pure functions).

The cost loss pushes the distributions until the most likely network's FLOPs fall within
``(1 ± t)`` of the target, but a short search can end before they do (the TAS benchmark's
mnist1d run at commit e204f40 ended at 0.358 for a 0.5 target). A user who asks for 50 % of
the FLOPs should not get 36 %, so the search's
network is brought inside the band greedily, giving up as little probability as it can
(not an exact search over every network). Starting from the argmax, one choice (a layer's
width or a stage's depth) moves one candidate at a time toward the band: each time the
move that gives up the least log-probability per FLOP it moves without jumping over the
band, until the network is inside. When every move would jump over it (coarse widths),
the nearer of that network and the current one is kept, so the result is never farther
from the band than the argmax.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from search_spaces.tas.arch import Arch, Candidates, Distributions, Geometry, flops

Key = tuple[str, int, int]  # ("stem" | "width" | "inner" | "depth", stage, block)


def choices(p: Distributions) -> dict[Key, list[float]]:
    """Every decision of the search and its probabilities."""
    out: dict[Key, list[float]] = {("stem", 0, 0): p.stem.tolist()}
    for s, q in enumerate(p.widths):
        out[("width", s, 0)] = q.tolist()
        out[("depth", s, 0)] = p.depth[s].tolist()
        for j, r in enumerate(p.inner[s]):
            out[("inner", s, j)] = r.tolist()
    return out


def build(index: dict[Key, int], c: Candidates) -> Arch:
    """The network of one candidate index per decision (depth index ``k``: ``k + 1`` blocks)."""
    stages = len(c.widths)
    inner = tuple(
        tuple(c.inner[s][j][index[("inner", s, j)]] for j in range(index[("depth", s, 0)] + 1)) for s in range(stages)
    )
    return Arch(c.stem[index[("stem", 0, 0)]], tuple(c.widths[s][index[("width", s, 0)]] for s in range(stages)), inner)


def _side(f: float, low: float, high: float) -> int:
    """+1 above the band, -1 below it, 0 inside."""
    return 1 if f > high else -1 if f < low else 0


def _gap(f: float, low: float, high: float) -> float:
    return max(low - f, f - high, 0.0)


def _log(q: Sequence[float], k: int) -> float:
    return math.log(max(q[k], 1e-300))


def argmax_index(p: Distributions) -> dict[Key, int]:
    """The most probable candidate of every decision."""
    return {k: max(range(len(q)), key=q.__getitem__) for k, q in choices(p).items()}


def moves(
    probs: dict[Key, list[float]], index: dict[Key, int], c: Candidates, g: Geometry, side: int, f: float
) -> Iterator[tuple[float, dict[Key, int], int]]:
    """Every one-candidate move of one decision that shifts the FLOPs toward the band (from
    ``side``): (log-probability given up, the new indices, the new FLOPs)."""
    for k, q in probs.items():
        n = index[k] - side
        if 0 <= n < len(q):
            moved = {**index, k: n}
            f2 = flops(build(moved, c), g)
            if (f2 - f) * side < 0:
                yield _log(q, index[k]) - _log(q, n), moved, f2


def in_band(p: Distributions, c: Candidates, g: Geometry, target: float, tolerance: float) -> Arch:
    """A likely network with FLOPs in ``[(1 - t)·target, (1 + t)·target]``, found greedily
    from the argmax (module docstring); ``target`` in FLOPs."""
    probs, index = choices(p), argmax_index(p)
    low, high = (1 - tolerance) * target, (1 + tolerance) * target
    f = flops(build(index, c), g)
    while (side := _side(f, low, high)) != 0:
        options = list(moves(probs, index, c, g, side, f))
        short = [m for m in options if _side(m[2], low, high) != -side]
        if short:  # the least probability per FLOP moved, without jumping over the band
            _, index, f = min(short, key=lambda m: m[0] / abs(m[2] - f))
            continue
        if options:  # every move jumps over the band: the nearer of that and here
            _, moved, f2 = min(options, key=lambda m: _gap(m[2], low, high))
            if _gap(f2, low, high) < _gap(f, low, high):
                index = moved
        break
    return build(index, c)
