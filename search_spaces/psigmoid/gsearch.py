"""G-Search: the fewest tokens each layer must keep, found greedily from shallow to deep.

The paper's assumption: the number of essential tokens does not increase with depth. So at
layer ``l``, with the shallower layers fixed at what was found, the deeper layers may keep
at most as many tokens as layer ``l``; G-Search sets them equal to it and finds the smallest
count for layer ``l`` whose metric still reaches ``target``. Under the assumption (and a
metric that does not fall when more tokens are kept) each layer's answer is found by
bisection, and the result is the unique smallest passing schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from search_spaces.psigmoid.schedule import Schedule

Metric = Callable[[Schedule], float]


@dataclass(frozen=True)
class GSearchResult:
    counts: Schedule
    target: float
    evaluations: int  # distinct schedules measured
    trace: list[tuple[Schedule, float]] = field(default_factory=list)  # every measurement, in order


def g_search(metric: Metric, layers: int, length: int, target: float, min_keep: int = 1) -> GSearchResult:
    """Smallest non-increasing keep counts, layer by layer, with ``metric(counts) >= target``.

    ``metric`` takes a full schedule (``layers`` counts for a ``length``-token sequence). If
    even the unreduced schedule misses ``target`` it is returned unchanged.
    """
    seen: dict[Schedule, float] = {}
    trace: list[tuple[Schedule, float]] = []

    def passes(counts: Schedule) -> bool:
        if counts not in seen:
            seen[counts] = float(metric(counts))
            trace.append((counts, seen[counts]))
        return seen[counts] >= target

    found: list[int] = []
    upper = length
    for layer in range(layers):
        rest = layers - layer

        def at(n: int, rest: int = rest) -> Schedule:
            return (*found, *([n] * rest))

        lo, hi = min_keep, upper  # invariant: at(hi) passes (or hi is the ceiling)
        if not passes(at(hi)):
            found.extend([upper] * rest)
            break
        while lo < hi:
            mid = (lo + hi) // 2
            if passes(at(mid)):
                hi = mid
            else:
                lo = mid + 1
        found.append(hi)
        upper = hi
    return GSearchResult(tuple(found), target, len(seen), trace)
