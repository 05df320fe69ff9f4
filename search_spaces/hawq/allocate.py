"""Bit allocation checked by measurement.

The HAWQ-V3 ILP minimises Σ Ω, and Ω is a second-order model of the loss increase: good for
small quantization errors, least trustworthy at the coarsest widths (a 2-bit layer can cost
far more than Ω says). So the allocator does not stop at the ILP's optimum: it takes the
near-optimal candidates of :func:`proxies.bitalloc.ilp_candidates` (the least-Ω assignments
above each floor width), fake-quantizes each and measures it on held-out validation data
(the training batches when a user model gives none), and picks the most accurate; ties go
to the lower measured loss, then to the lower Ω. The test split is never looked at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proxies.bitalloc import Allocation, ilp_candidates
from search_spaces.hawq.space import HawqSpace
from search_spaces.tasks.threads import torch_threads

TRAIN_BATCHES = 8  # training batches measured when a user model has no validation data


@dataclass(frozen=True)
class Measured:
    """One candidate assignment with its Ω, costs and measured accuracy and loss."""

    bits: dict[str, int]
    omega: float
    costs: dict[str, float]  # size_mb (incl. fixed params), bops, latency_us
    accuracy: float
    loss: float


@dataclass(frozen=True)
class CheckedAllocation:
    """The pick, the ILP's Ω optimum (the first candidate), every candidate, and the data used."""

    picked: Measured
    ilp: Measured
    candidates: tuple[Measured, ...]
    checked_on: str  # "validation" or "train"


def table_limits(space: HawqSpace, limits: Mapping[str, float]) -> dict[str, float]:
    """Absolute limits (size including the unquantized parameters) → limits on the per-layer
    cost tables the ILP sums."""
    fixed = space.costs.fixed_bytes / 1e6
    return {k: v - (fixed if k == "size_mb" else 0.0) for k, v in limits.items()}


def checked_allocation(space: HawqSpace, limits: Mapping[str, float],
                       ties: Sequence[Sequence[int]] = (), per_floor: int = 3) -> CheckedAllocation:
    """Solve the ILP under absolute ``limits`` (``size_mb``, ``bops``, ``latency_us``), measure
    its near-optimal candidates and pick one (see the module doc). Raises
    :class:`proxies.bitalloc.InfeasibleBudget` when nothing meets the limits."""
    sens = space.sensitivity()
    tables = space.costs.tables(sens.bit_choices)
    allocs = ilp_candidates(sens.omega, sens.bit_choices, tables, table_limits(space, limits), ties, per_floor)
    checked_on = "validation" if space.task.val else "train"
    batches = space.task.val or space.task.train[:TRAIN_BATCHES]
    with torch_threads(space.threads):
        measured = [_measure(space, a, batches) for a in allocs]
    picked = min(measured, key=lambda m: (-m.accuracy, m.loss, m.omega))
    return CheckedAllocation(picked, measured[0], tuple(measured), checked_on)


def _measure(space: HawqSpace, a: Allocation, batches: Sequence) -> Measured:
    bits = dict(zip(space.layers, a.bits, strict=True))
    acc, loss = space.measure(bits, batches)
    return Measured(bits, a.omega, space.costs.totals(list(a.bits)), acc, loss)
