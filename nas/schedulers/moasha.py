"""Multi-objective ASHA (after Schmucker et al., 2021), stopping variant.

Rungs sit at ``min_step * eta**k`` below ``max_step``. When a trial reports a rung step,
it is ranked among every trial that reached that rung so far (itself included): by
non-dominated sorting, ties within a level broken by ``tie_break``: ``epsnet`` (the
default: an epsilon-net, farthest-first over the level with objectives scaled to the rung's
range), ``hypervolume`` (greedy: the report adding the most hypervolume first, on the same
scaled objectives) or ``crowding`` (NSGA-II crowding distance, then earlier arrival; the only
rule before ``tie_break`` existed), see :func:`nas.schedulers._rank.rank_order`. It continues when it is in the
top ``max(1, floor(n / eta))`` of those ``n`` trials; otherwise it stops. So the first
trial at a rung continues, and while fewer than ``eta`` have reached it only the one ranked
first does. At the second report this is what Ray Tune's ASHA (one objective: it continues
when no worse than the first) and Syne Tune's MOASHA (when it ranks first) decide. (Before,
every trial continued while fewer than ``eta`` had reached the rung, so the first
``eta - 1`` trials of every study ran to ``max_step`` whatever they reported.) Steps that are
not rungs decide nothing.

With ``promote: true`` a stopped trial is not stopped for good: whenever a report arrives at
a rung, every trial STOPPED there that would now continue (it ranks in the top
``max(1, floor(n / eta))`` of the ``n`` reports) goes back to the queue, its stop stored as
``promoted``. Run again from its first step (no checkpoint is kept), it replays its stored
reports up to the rung and goes on to the next one, where it is ranked as usual. This is
what promotion-type ASHA gives a trial whose rung filled up after it arrived, at the price
of training it again up to the rung. A stopped trial's fate then no longer depends on how
few trials had reached its rung when it arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from nas.schedulers._rank import TieBreak, rank_order
from nas.schedulers.base import Peers, Scheduler, SchedulerError, SchedulerOptions, register_scheduler


class MOASHAOptions(SchedulerOptions):
    min_step: int = Field(default=1, ge=1, description="the first rung (e.g. epoch 1)")
    max_step: int = Field(ge=1, description="the last step a trial runs to (its full fidelity)")
    eta: int = Field(default=3, ge=2, description="rung spacing and promotion ratio: the top 1/eta continue")
    tie_break: TieBreak = Field(
        default="epsnet",
        description="order within a non-dominated level: epsilon-net, greedy hypervolume or crowding distance",
    )
    promote: bool = Field(
        default=False,
        strict=True,
        description="run a STOPPED trial again from its first step once later reports at its rung rank it "
        "in their top 1/eta (promotion without checkpoints)",
    )

    @model_validator(mode="after")
    def _has_a_rung(self) -> MOASHAOptions:
        if self.min_step >= self.max_step:
            raise ValueError(
                f"min_step={self.min_step} >= max_step={self.max_step} makes no rung: "
                "give min_step < max_step (rungs are min_step * eta**k below max_step)"
            )
        return self


def rungs(min_step: int, max_step: int, eta: int) -> list[int]:
    """The decision steps ``min_step * eta**k`` strictly below ``max_step``."""
    out, r = [], min_step
    while r < max_step:
        out.append(r)
        r *= eta
    return out


@register_scheduler("moasha")
class MOASHA(Scheduler):
    Options = MOASHAOptions

    def __init__(self, options: dict[str, Any], objectives: Sequence[tuple[str, str]]) -> None:
        super().__init__(options, objectives)
        if self.config.tie_break == "hypervolume" and len(self.names) > 2:
            raise SchedulerError(
                f"scheduler {self.name!r}: tie_break='hypervolume' ranks two objectives, this study has "
                f"{len(self.names)} ({', '.join(self.names)}): use tie_break: epsnet"
            )

    @property
    def rungs(self) -> list[int]:
        c = self.config
        return rungs(c.min_step, c.max_step, c.eta)

    @property
    def promotes(self) -> bool:
        return bool(self.config.promote)

    def rung_peers(self, trial_number: int, step: int, peers: Peers) -> Peers | None:
        """The reports ``trial_number`` is ranked among at ``step``: all of them at a rung,
        None where ``step`` is no decision point (Hyperband keeps the trial's bracket)."""
        return peers if step in self.rungs else None

    def continuing(self, group: Peers) -> set[int]:
        """The trial numbers ranked in the top ``max(1, floor(n / eta))`` of the ``n`` reports
        of ``group`` (one report per trial)."""
        order = rank_order(self.matrix(group), self.config.tie_break)
        return {group[i][0] for i in order[: max(1, len(group) // self.config.eta)]}

    def decide(self, trial_number: int, step: int, peers: Peers) -> bool | None:
        group = self.rung_peers(trial_number, step, peers)
        return None if group is None else trial_number in self.continuing(group)

    def promotable(self, step: int, peers: Peers, stopped: set[int]) -> list[int]:
        """With ``promote``, the trials of ``stopped`` that :meth:`decide` would now continue,
        ranking each group of peers once (one per Hyperband bracket)."""
        if not self.promotes:
            return []
        tops: dict[tuple[int, ...], set[int]] = {}
        out = []
        for n in sorted(stopped):
            group = self.rung_peers(n, step, peers)
            if group is None:
                continue
            key = tuple(m for m, _ in group)
            if key not in tops:
                tops[key] = self.continuing(group)
            if n in tops[key]:
                out.append(n)
        return out
