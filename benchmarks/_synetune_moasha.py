"""Syne Tune's MOASHA on the multi-fidelity benchmark's problem, driven in process.

Syne Tune (``pip install syne-tune``; not installed by ``make``) ships MOASHA as a
scheduler: it samples configurations at random from its config space and decides after
each reported epoch whether a trial continues (non-dominated sorting at each rung). Its
``Tuner`` would start every trial as a separate script; here the scheduler is called
directly, one trial at a time, around the same evaluator, data, seeding, epochs and
hypervolume as our own methods, so only the scheduler and the sampler differ:
``suggest`` -> ``on_trial_add`` -> ``on_trial_result`` per epoch (stop when it says so)
-> ``on_trial_complete`` for a trial that reached the last epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np


@dataclass
class _Context:
    """What the benchmark's evaluator reads from our evaluation context."""

    seed: int
    trial_number: int
    scheduler: Any
    trial: Any
    steps: int = 0

    def step(self, step: int, values: dict[str, float]) -> bool:
        from syne_tune.optimizer.scheduler import SchedulerDecision

        self.steps += 1
        decision = self.scheduler.on_trial_result(self.trial, {"epoch": step, **values})
        return decision == SchedulerDecision.CONTINUE


def run(seed: int, epochs: int, max_epochs: int, eta: int = 3, min_step: int = 1) -> dict[str, Any]:
    """One Syne Tune MOASHA run to ``epochs`` epochs spent; the hypervolume after each trial."""
    import random

    import torch
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import lograndint, loguniform, randint, uniform
    from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA

    import benchmarks.multifidelity as mf

    mf.MAX_EPOCHS = max_epochs
    random.seed(seed)
    np.random.seed(seed)  # MOASHA draws each trial's bracket from numpy's global generator
    torch.manual_seed(seed)
    kinds = {("int", True): lograndint, ("int", False): randint, ("float", True): loguniform, ("float", False): uniform}
    space = {
        k: kinds[(p["type"], p.get("log", False))](p["low"], p["high"]) for k, p in mf.PROBLEMS[mf.PROBLEM].items()
    }
    scheduler = MOASHA(
        space,
        metrics=["val_err", "kparams"],
        do_minimize=True,
        time_attr="epoch",
        max_t=max_epochs,
        grace_period=min_step,
        reduction_factor=eta,
        random_seed=seed,
    )
    run = mf.Progress()
    number = 0
    while run.spent < epochs:
        suggestion = scheduler.suggest()
        trial = Trial(trial_id=number, config=suggestion.config, creation_time=datetime.now())
        scheduler.on_trial_add(trial)
        ctx = _Context(seed, number, scheduler, trial)
        values = mf.evaluate(dict(suggestion.config), ctx)
        number += 1
        if ctx.steps >= max_epochs:
            scheduler.on_trial_complete(trial, {"epoch": ctx.steps, **values})
            run.add(ctx.steps, "COMPLETE", values)
        else:
            scheduler.on_trial_remove(trial)
            run.add(ctx.steps, "STOPPED", values)
    return run.result("synetune-moasha", seed, epochs, max_epochs)
