"""The scheduler plug-in interface: decide, at a trial's step, whether it continues.

A scheduler is pure: :meth:`Scheduler.decide` sees the trial's number, the step and every
report stored at that step (in arrival order, the trial's own last), all read from the
database inside the transaction that stores the report, so any driver or a resumed one
decides the same; the decision is stored with the step (:meth:`storage.Store.add_step`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError


class SchedulerError(ValueError):
    """A scheduler is unknown or its options are invalid."""


class SchedulerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Peers = Sequence[tuple[int, dict[str, float]]]


class Scheduler(ABC):
    """Base of every scheduler: ``Options`` validates the spec's options."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[SchedulerOptions]] = SchedulerOptions

    def __init__(self, options: dict[str, Any], objectives: Sequence[tuple[str, str]]) -> None:
        """``objectives`` are ``(name, direction)`` pairs, direction ``min`` or ``max``."""
        self.config = self.parse_options(options)
        self.names = [n for n, _ in objectives]
        self.signs = np.array([1.0 if d == "min" else -1.0 for _, d in objectives])

    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> Any:
        try:
            return cls.Options.model_validate(options)
        except ValidationError as e:
            lines = []
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "options"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown option; {cls.name!r} takes {sorted(cls.Options.model_fields)}"
                lines.append(f"scheduler {cls.name!r}: {loc}={err.get('input')!r}: {msg}")
            raise SchedulerError("; ".join(lines)) from None

    def matrix(self, peers: Peers) -> np.ndarray:
        """The peers' objective values as an ``n x m`` array in minimisation orientation."""
        Y = np.array([[v[n] for n in self.names] for _, v in peers], dtype=float)
        return Y.reshape(-1, len(self.names)) * self.signs

    @abstractmethod
    def decide(self, trial_number: int, step: int, peers: Peers) -> bool | None:
        """True: continue; False: stop the trial now; None: ``step`` is no decision point."""

    @property
    def promotes(self) -> bool:
        """Whether :meth:`promotable` may name any trial (readers of the study then watch
        for STOPPED trials going back to the queue)."""
        return False

    def promotable(self, step: int, peers: Peers, stopped: set[int]) -> list[int]:
        """Which of ``stopped`` (trials STOPPED at ``step``) should run again now that
        ``peers`` (every report at ``step``) reached it; by default none."""
        return []


_REGISTRY: dict[str, type[Scheduler]] = {}


def register_scheduler(name: str) -> Callable[[type[Scheduler]], type[Scheduler]]:
    """Class decorator registering a scheduler under ``name``; refuses duplicates."""

    def deco(cls: type[Scheduler]) -> type[Scheduler]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise SchedulerError(f"a scheduler named {name!r} is already registered ({_REGISTRY[name].__module__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def scheduler_names() -> list[str]:
    return sorted(_REGISTRY)


def get_scheduler_class(name: str) -> type[Scheduler]:
    if name not in _REGISTRY:
        raise SchedulerError(f"unknown scheduler {name!r}: choose one of {scheduler_names()}")
    return _REGISTRY[name]


def make_scheduler(name: str, options: dict[str, Any], objectives: Sequence[tuple[str, str]]) -> Scheduler:
    return get_scheduler_class(name)(options, objectives)
