"""Options of the ``tas`` space, validated into a frozen dataclass.

The search settings are the trial's parameters; an option gives each one's range
``[low, high]``, or a single value to hold it fixed.

===================  ==========================================================  ====================
option               meaning                                                     default
===================  ==========================================================  ====================
``task``             built-in task: ``digits`` (2-D) or ``mnist1d`` (1-D)        ``digits``
``seed``             data split, teacher training, search and KD seed            ``0``
``width_fractions``  candidate widths of every layer, fractions of its width     ``[0.25, 0.375, ..., 1]``
``blocks``           residual blocks per stage in the unpruned network           ``3``
``teacher_epochs``   epochs that train the unpruned network (once per seed)      ``20``
``kd_epochs``        epochs of distillation into the searched network            ``20``
``flops_target``     FLOPs target, a fraction of the unpruned FLOPs, in (0, 1]   ``[0.2, 0.9]``
``tau_start``        Gumbel-softmax temperature of the first search epoch (> 0)  ``[1, 10]``
``tau_end``          temperature of the last search epoch (> 0)                  ``[0.05, 1]``
``cost_weight``      weight λ of the cost loss (>= 0)                            ``[0.5, 4]``
``search_epochs``    epochs of the search                                        ``[2, 6]``
===================  ==========================================================  ====================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search_spaces.base import SpaceError
from search_spaces.params import Categorical, Float, Int, Param
from search_spaces.tasks.vision import TASKS

FRACTIONS = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
# parameter name -> (default range, smallest allowed, low end open?, largest allowed, integer?)
SEARCH = {
    "flops_target": ((0.2, 0.9), 0.0, True, 1.0, False),
    "tau_start": ((1.0, 10.0), 0.0, True, 100.0, False),
    "tau_end": ((0.05, 1.0), 0.0, True, 100.0, False),
    "cost_weight": ((0.5, 4.0), 0.0, False, 100.0, False),
    "search_epochs": ((2, 6), 1, False, 100, True),
}
ALLOWED = ("task", "seed", "width_fractions", "blocks", "teacher_epochs", "kd_epochs", *SEARCH)


@dataclass(frozen=True)
class TasOptions:
    task: str = "digits"
    seed: int = 0
    width_fractions: tuple[float, ...] = FRACTIONS
    blocks: int = 3
    teacher_epochs: int = 20
    kd_epochs: int = 20
    params: tuple[tuple[str, Param], ...] = ()


def parse_options(o: dict[str, Any]) -> TasOptions:
    """Validate raw options; every error names the option, the value and what is allowed."""
    unknown = sorted(set(o) - set(ALLOWED))
    if unknown:
        raise SpaceError(f"tas: unknown option(s) {unknown}; allowed: {', '.join(ALLOWED)}")
    task = o.get("task", "digits")
    if task not in TASKS:
        raise SpaceError(f"tas: option task={task!r} is unknown; choose one of {list(TASKS)}")
    return TasOptions(
        task=task,
        seed=_int(o, "seed", 0, 0, 2**31 - 1),
        width_fractions=_fractions(o.get("width_fractions", list(FRACTIONS))),
        blocks=_int(o, "blocks", 3, 1, 8),
        teacher_epochs=_int(o, "teacher_epochs", 20, 1, 1000),
        kd_epochs=_int(o, "kd_epochs", 20, 1, 1000),
        params=tuple((name, _param(name, o.get(name, spec[0]), *spec[1:])) for name, spec in SEARCH.items()),
    )


def _fractions(v: Any) -> tuple[float, ...]:
    if not isinstance(v, list | tuple) or not v:
        raise SpaceError(
            f"tas: option width_fractions={v!r} is an empty or missing candidate list; give "
            "fractions in (0, 1] of each layer's width, e.g. [0.25, 0.5, 0.75, 1.0]"
        )
    if not all(_number(f) and 0 < f <= 1 for f in v):
        raise SpaceError(f"tas: option width_fractions={v!r} must hold numbers in (0, 1], e.g. [0.25, 0.5, 1.0]")
    return tuple(sorted(set(float(f) for f in v)))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _param(name: str, v: Any, lo: float, open_lo: bool, hi: float, integer: bool) -> Param:
    """A fixed value (one-choice categorical) or a ``[low, high]`` range, each inside the bounds."""
    kind = "an integer" if integer else "a number"
    bound = f"{'(' if open_lo else '['}{lo}, {hi}]"
    values = list(v) if isinstance(v, list | tuple) else [v]
    ok = len(values) in (1, 2) and all(
        (isinstance(x, int) and not isinstance(x, bool)) if integer else _number(x) for x in values
    )
    ok = ok and all((x > lo if open_lo else x >= lo) and x <= hi for x in values)
    if not ok or (len(values) == 2 and not values[0] < values[1]):
        raise SpaceError(
            f"tas: option {name}={v!r} must be {kind} in {bound} (held fixed) or a range "
            f"[low, high] with low < high inside {bound}"
        )
    if len(values) == 1:
        return Categorical((values[0],))
    return Int(*values) if integer else Float(float(values[0]), float(values[1]))


def _int(o: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpaceError(f"tas: option {key}={v!r} must be an integer from {lo} to {hi}")
    return v
