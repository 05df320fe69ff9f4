"""Schedulers: plug-ins that stop trials early from their per-step reports.

``none`` (every trial runs to the end), ``moasha`` (multi-objective ASHA) and
``hyperband`` (brackets of MO-ASHA). Chosen in the spec as
``scheduler: {name: moasha, min_step: 1, max_step: 27, eta: 3}``.
"""

from nas.schedulers import hyperband, moasha, none  # noqa: F401  (register the built-ins)
from nas.schedulers.base import (
    Scheduler,
    SchedulerError,
    get_scheduler_class,
    make_scheduler,
    register_scheduler,
    scheduler_names,
)

__all__ = [
    "Scheduler",
    "SchedulerError",
    "get_scheduler_class",
    "make_scheduler",
    "register_scheduler",
    "scheduler_names",
]
