"""The optimizer plug-in interface: propose configurations from the study's history.

An optimizer is built once per study from its parameters, objectives and options; it
holds no state of its own between calls. Everything it needs (completed and running
trials, a seeded generator) is handed to :meth:`Optimizer.propose`, so a study resumed
from the database continues exactly where it stopped, with no pickles.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

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
    """What an optimizer optimizes: the space's parameters, objectives and constraints;
    ``max_step``: the early-stopping scheduler's full-fidelity step, where the study has one
    (a COMPLETE trial ran to it; a STOPPED one's step is in its ``stopped_at_step`` metric)."""

    params: dict[str, Param]
    objectives: list[Objective]
    constraints: list[Constraint] = field(default_factory=list)
    max_step: int | None = None


class OptimizerOptions(BaseModel):
    """An optimizer's options, validated before a study is written: unknown names and
    values of the wrong type are refused by name. Subclass it to declare options."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _option_errors(name: str, err: ValidationError, allowed: list[str]) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "options"
        if e["type"] == "extra_forbidden":
            lines.append(f"{name}: unknown option {key}={e['input']!r}; allowed: {allowed or 'none'}")
        else:
            lines.append(f"{name}: option {key}={e['input']!r}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


class Optimizer(ABC):
    """Base class: ``propose(history, pending, n, rng) -> list[config]``.

    ``history`` holds COMPLETE trials (with ``values`` and ``metrics``) and STOPPED ones
    (ended early by the scheduler: their ``values`` are their last step's, a lower
    fidelity, with ``metrics["stopped_at_step"]``; a model of full-fidelity objectives
    must keep them off its front: ``mobo`` fits them as pessimistic values or skips
    them), ``pending`` the RUNNING and PENDING ones (``params`` only; a STOPPED trial the
    scheduler promotes moves there until it ends again). A config is a dict of parameter
    values.
    The same problem, options, history, pending and generator state give the same result.
    """

    name: str = ""
    Options: ClassVar[type[OptimizerOptions]] = OptimizerOptions

    def __init__(self, problem: Problem, seed: int = 0, **options: Any) -> None:
        self.problem = problem
        self.seed = seed
        self.options = options
        self.config = self.parse_options(options)
        # What the last ``propose`` did (strategy, fallbacks and why); the study records it
        # in each new trial's metrics under "optimizer", so a fallback is never silent.
        self.last_info: dict[str, Any] = {}

    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> OptimizerOptions:
        """Validate ``options`` with :attr:`Options`; :class:`OptimizerError` names each bad one."""
        try:
            return cls.Options.model_validate(options)
        except ValidationError as e:
            raise OptimizerError(_option_errors(cls.name, e, list(cls.Options.model_fields))) from None

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
    """Built-in, registered and ``nas.optimizers`` entry-point optimizers."""
    names = set(_BUILTIN) | set(_REGISTRY)
    names |= {ep.name for ep in entry_points(group="nas.optimizers")}
    return sorted(names)


def get_optimizer_class(name: str) -> type[Optimizer]:
    """Look an optimizer up by name, importing its module (or entry point) on first use."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    elif name not in _REGISTRY:
        for ep in entry_points(group="nas.optimizers"):
            if ep.name == name:
                obj = ep.load()
                if isinstance(obj, type) and issubclass(obj, Optimizer) and name not in _REGISTRY:
                    register_optimizer(name)(obj)
    if name not in _REGISTRY:
        raise OptimizerError(f"unknown optimizer {name!r}: choose one of {optimizer_names()}")
    return _REGISTRY[name]


def make_optimizer(name: str, problem: Problem, seed: int = 0, **options: Any) -> Optimizer:
    return get_optimizer_class(name)(problem, seed=seed, **options)
