"""The search-space plug-in interface and its registry.

A search space names its parameters and objectives and evaluates one configuration.
Spaces register by name with :func:`register_space`; third-party spaces are found through
the ``nas.search_spaces`` entry-point group. Built-in spaces are imported only when asked
for, so listing or querying studies never pulls in torch.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from search_spaces.params import Param

Direction = Literal["min", "max"]

# name -> module that registers it on import (kept here so nothing heavy loads early)
_BUILTIN: dict[str, str] = {
    "synthetic": "search_spaces.synthetic",
    "custom": "search_spaces.custom",
    "hawq": "search_spaces.hawq",
    "rarts": "search_spaces.rarts",
    "psigmoid": "search_spaces.psigmoid",
    "tas": "search_spaces.tas",
    "autopeft": "search_spaces.autopeft",
    "wpca": "search_spaces.wpca",
}
#: Each built-in's one-line summary, so ``nas spaces`` lists them without importing torch
#: (a test checks each equals its class's ``summary``).
BUILTIN_SUMMARIES: dict[str, str] = {
    "synthetic": "Multi-objective test problems: BraninCurrin, ZDT1-3, DTLZ2, mixed int/categorical",
    "custom": "Parameters and objectives declared in the spec, evaluated by your code (ask/tell or module:function)",
    "hawq": "Per-layer weight bit-widths of a trained CNN (HAWQ): accuracy, size, BOPs, Hessian Ω",
    "rarts": "RARTS (or first-order DARTS) cell/width search, then the derived net: accuracy, params",
    "psigmoid": "P-Sigmoid per-layer token keep ratios of a fine-tuned MiniLM-L6 at a FLOPs budget: accuracy, FLOPs",
    "tas": "Transformable architecture search (TAS) at a FLOPs target, then KD: accuracy, FLOPs",
    "autopeft": "AutoPEFT: serial/parallel adapter sizes, prefix length and layers on MiniLM-L6 (BBC News)",
    "wpca": "Lightweight transformer encoders scored zero-shot (W-PCA or a baseline proxy), params, CPU latency",
}
_REGISTRY: dict[str, type[SearchSpace]] = {}


class SpaceError(ValueError):
    """A search space is unknown or its options are invalid."""


@dataclass(frozen=True)
class Objective:
    name: str
    direction: Direction = "min"
    ref: float | None = None  # reference value for hypervolume (worst acceptable)
    description: str = ""


@dataclass
class Evaluation:
    """What one evaluation returns: objective values, extra metrics, optional artifacts."""

    values: dict[str, float]
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


StepFn = Callable[[int, dict[str, float]], bool]


@dataclass
class EvalContext:
    """Handed to ``evaluate``: where the trial runs, and hooks to report progress.

    ``ctx.step(step, values)`` reports intermediate objective values after a step (an
    epoch, a fraction of the data) and returns False when the study's scheduler decides
    the trial should stop; the evaluation should then return its latest values. Without
    a scheduler every step returns True.
    """

    trial_number: int = 0
    seed: int = 0
    workdir: Path | None = None
    report: Callable[[str], None] = lambda message: None
    on_step: StepFn | None = None

    def step(self, step: int, values: dict[str, float]) -> bool:
        """Report ``values`` after ``step``; False means: stop now and return."""
        return True if self.on_step is None else bool(self.on_step(step, values))


class SearchSpace(ABC):
    """Base class of every search space.

    Subclasses set ``name`` and ``summary``, validate ``options`` in ``__init__`` (raising
    :class:`SpaceError` that names the option, the value and what is allowed), and
    provide ``params``, ``objectives`` and ``evaluate``.
    """

    name: str = ""
    summary: str = ""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = dict(options or {})

    @property
    @abstractmethod
    def params(self) -> dict[str, Param]: ...

    @property
    @abstractmethod
    def objectives(self) -> list[Objective]: ...

    @abstractmethod
    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation: ...


def register_space(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator that registers a search space under ``name``; refuses duplicates."""

    def deco(cls: type[SearchSpace]) -> type[SearchSpace]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise SpaceError(f"a search space named {name!r} is already registered "
                             f"({_REGISTRY[name].__module__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def space_names() -> list[str]:
    """Every space name that can be used: built-ins, registered and entry points."""
    names = set(_BUILTIN) | set(_REGISTRY)
    names |= {ep.name for ep in entry_points(group="nas.search_spaces")}
    return sorted(names)


def space_summaries() -> list[tuple[str, str]]:
    """``(name, summary)`` of every space; built-ins are not imported, plug-ins are loaded
    (one that fails to load is listed with the reason, never hiding the others)."""
    rows = []
    for name in space_names():
        if name in _REGISTRY or name not in BUILTIN_SUMMARIES:
            try:
                rows.append((name, get_space_class(name).summary))
            except Exception as e:
                rows.append((name, f"(cannot load: {e})"))
        else:
            rows.append((name, BUILTIN_SUMMARIES[name]))
    return rows


def get_space_class(name: str) -> type[SearchSpace]:
    """Look a space class up by name, importing its module on first use."""
    if name not in _REGISTRY:
        if name in _BUILTIN:
            importlib.import_module(_BUILTIN[name])
        else:
            for ep in entry_points(group="nas.search_spaces"):
                if ep.name == name:
                    obj = ep.load()
                    if isinstance(obj, type) and name not in _REGISTRY:
                        register_space(name)(obj)
    if name not in _REGISTRY:
        raise SpaceError(f"unknown search space {name!r}: choose one of {space_names()}")
    return _REGISTRY[name]


def make_space(name: str, options: dict[str, Any] | None = None, **kwargs: Any) -> SearchSpace:
    """Construct a space by name with its options (validated by the space)."""
    return get_space_class(name)(options, **kwargs)
