"""Scrambled Sobol sequence: space-filling designs, continued across resumes.

The sequence position is the number of trials the study already holds, read from the
database each time, so a resumed study continues the same sequence.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import qmc

from nas.optimizers._encode import decode, unit_to_space
from nas.optimizers.base import Optimizer, register_optimizer
from nas.trial import Trial
from search_spaces.params import Param


def sobol_points(d: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points ``start .. start+n-1`` of the scrambled Sobol sequence of dimension ``d``."""
    engine = qmc.Sobol(d=max(d, 1), scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    with warnings.catch_warnings():  # balance needs powers of 2; studies ask any n
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)[:, :d]


def sobol_configs(params: dict[str, Param], seed: int, start: int, n: int) -> list[dict[str, Any]]:
    u = sobol_points(len(params), seed, start, n)
    return decode(params, unit_to_space(params, u))


@register_optimizer("sobol")
class SobolOptimizer(Optimizer):
    def propose(
        self,
        history: Sequence[Trial],
        pending: Sequence[Trial],
        n: int,
        rng: np.random.Generator,
    ) -> list[dict[str, Any]]:
        start = max((t.number for t in [*history, *pending]), default=-1) + 1
        return sobol_configs(self.problem.params, self.seed, start, n)
