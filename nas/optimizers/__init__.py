"""Optimizers: plug-ins that propose configurations (``random``, ``sobol``, ``mobo``)."""

from nas.optimizers.base import (
    Constraint,
    Optimizer,
    OptimizerError,
    Problem,
    get_optimizer_class,
    make_optimizer,
    optimizer_names,
    register_optimizer,
)

__all__ = [
    "Constraint",
    "Optimizer",
    "OptimizerError",
    "Problem",
    "get_optimizer_class",
    "make_optimizer",
    "optimizer_names",
    "register_optimizer",
]
