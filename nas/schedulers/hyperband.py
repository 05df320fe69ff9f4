"""Hyperband brackets over MO-ASHA.

Bracket ``b`` (0 .. ``len(rungs)``) starts its rungs at the ``b``-th MO-ASHA rung, so
bracket 0 is MO-ASHA itself and the last bracket runs every trial to ``max_step``. A
trial's bracket is ``trial_number % brackets`` (round robin, read from the trial number
alone, so every driver agrees), and it is ranked only against trials of its own bracket.
"""

from __future__ import annotations

from nas.schedulers.base import Peers, register_scheduler
from nas.schedulers.moasha import MOASHA


@register_scheduler("hyperband")
class Hyperband(MOASHA):
    @property
    def brackets(self) -> int:
        return len(self.rungs) + 1

    def bracket(self, trial_number: int) -> int:
        return trial_number % self.brackets

    def rung_peers(self, trial_number: int, step: int, peers: Peers) -> Peers | None:
        b = self.bracket(trial_number)
        if step not in self.rungs[b:]:
            return None
        return [p for p in peers if self.bracket(p[0]) == b]
