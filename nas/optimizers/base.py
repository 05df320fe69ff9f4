"""The optimizer plug-in interface: propose configurations from the study's history.

An optimizer is built once per study from its parameters, objectives and options; it
holds no state of its own between calls. Everything it needs (completed and running
trials, a seeded generator) is handed to :meth:`Optimizer.propose`, so a study resumed
from the database continues exactly where it stopped, with no pickles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.trial import Trial
from search_spaces.base import Objective
from search_spaces.params import Param


class OptimizerError(ValueError):
    """An optimizer is unknown or was given invalid options."""


@dataclass(frozen=True)
class Constraint:
    """An outcome constraint on a metric or objective: ``metric <= upper`` / ``>= lower``."""

    metric: str
    upper: float | None = None
    lower: float | None = None

    def satisfied(self, value: float) -> bool:
        if self.upper is not None and value > self.upper:
            return False
        return not (self.lower is not None and value < self.lower)


@dataclass(frozen=True)
class Problem:
    """What an optimizer optimizes: the space's parameters, objectives and constraints."""

    params: dict[str, Param]
    objectives: list[Objective]
    constraints: list[Constraint] = field(default_factory=list)


class Optimizer(ABC):
    """Base class: ``propose(history, pending, n, rng) -> list[config]``.

    ``history`` holds COMPLETE trials (with ``values`` and ``metrics``), ``pending`` the
    RUNNING and PENDING ones (``params`` only). A config is a dict of parameter values.
    The same problem, options, history, pending and generator state give the same result.
    """

    name: str = ""

    def __init__(self, problem: Problem, seed: int = 0, **options: Any) -> None:
        self.problem = problem
        self.seed = seed
        self.options = options
        # What the last ``propose`` did (strategy, fallbacks and why); the study records it
        # in each new trial's metrics under "optimizer", so a fallback is never silent.
        self.last_info: dict[str, Any] = {}

    @abstractmethod
    def propose(
        self,
        history: Sequence[Trial],
        pending: Sequence[Trial],
        n: int,
        rng: np.random.Generator,
    ) -> list[dict[str, Any]]: ...


_REGISTRY: dict[str, type[Optimizer]] = {}
_BUILTIN: dict[str, str] = {
    "random": "nas.optimizers.random",
    "sobol": "nas.optimizers.sobol",
    "mobo": "nas.optimizers.mobo",
}


def register_optimizer(name: str) -> Callable[[type[Optimizer]], type[Optimizer]]:
    """Class decorator registering an optimizer under ``name``; refuses duplicates."""

    def deco(cls: type[Optimizer]) -> type[Optimizer]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise OptimizerError(f"an optimizer named {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def optimizer_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_optimizer_class(name: str) -> type[Optimizer]:
    if name not in _REGISTRY and name in _BUILTIN:
        import importlib

        try:
            importlib.import_module(_BUILTIN[name])
        except ModuleNotFoundError as e:
            if e.name != _BUILTIN[name]:
                raise
    if name not in _REGISTRY:
        raise OptimizerError(f"unknown optimizer {name!r}: choose one of {optimizer_names()}")
    return _REGISTRY[name]


def make_optimizer(name: str, problem: Problem, seed: int = 0, **options: Any) -> Optimizer:
    return get_optimizer_class(name)(problem, seed=seed, **options)
