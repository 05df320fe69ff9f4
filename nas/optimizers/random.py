"""Uniform random search: the baseline every other optimizer must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.optimizers._encode import decode, unit_to_space
from nas.optimizers.base import Optimizer, register_optimizer
from nas.trial import Trial


@register_optimizer("random")
class RandomOptimizer(Optimizer):
    def propose(
        self,
        history: Sequence[Trial],
        pending: Sequence[Trial],
        n: int,
        rng: np.random.Generator,
    ) -> list[dict[str, Any]]:
        u = rng.random((n, len(self.problem.params)))
        return decode(self.problem.params, unit_to_space(self.problem.params, u))
