"""The ``none`` scheduler: every trial runs to the end (steps are still stored)."""

from __future__ import annotations

from nas.schedulers.base import Peers, Scheduler, register_scheduler


@register_scheduler("none")
class NoScheduler(Scheduler):
    def decide(self, trial_number: int, step: int, peers: Peers) -> bool | None:
        return None
