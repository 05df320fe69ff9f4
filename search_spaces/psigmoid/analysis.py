"""G-Search on the fine-tuned MiniLM-L6: the per-layer token schedule that keeps validation
accuracy within a tolerance of the unreduced model's, with its FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.psigmoid.gsearch import GSearchResult, g_search
from search_spaces.psigmoid.schedule import Schedule, encoder_flops, full_flops
from search_spaces.psigmoid.space import PSigmoidSpace


@dataclass(frozen=True)
class GSearchReport:
    counts: Schedule
    length: int
    flops: int
    flops_ratio: float
    unreduced_accuracy: float  # on the validation subset
    accuracy: float  # the schedule's validation accuracy
    test_accuracy: float | None  # None when the space's test_size is 0
    tolerance: float
    evaluations: int
    trace: list[tuple[Schedule, float]]


def gsearch_report(space: PSigmoidSpace, tolerance: float = 0.01) -> GSearchReport:
    """Run G-Search on ``space``'s model and validation subset; ``tolerance`` is the accuracy
    (absolute, e.g. 0.01 = one point) the schedule may lose against the unreduced model."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance={tolerance!r} must be an accuracy drop in [0, 1), e.g. 0.01")
    base = space.unreduced_accuracy
    result: GSearchResult = g_search(
        lambda c: space.reduced_accuracy(c, space.val),
        space.dims.layers,
        space.length,
        base - tolerance - 1e-12,
        space.min_keep,
    )
    flops = encoder_flops(result.counts, space.length, space.dims)
    return GSearchReport(
        result.counts,
        space.length,
        flops,
        flops / full_flops(space.length, space.dims),
        base,
        dict(result.trace).get(result.counts, base),
        space.reduced_accuracy(result.counts, space.test),
        tolerance,
        result.evaluations,
        result.trace,
    )
