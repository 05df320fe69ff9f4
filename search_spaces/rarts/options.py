"""Options of the ``rarts`` space, validated with pydantic before anything runs.

=====================  ==============================================================  ============
option                 meaning                                                         default
=====================  ==============================================================  ============
``method``             ``rarts`` (relaxed, two weight copies) or ``darts1``            ``rarts``
``alpha_grad``         RARTS's α gradient: ``fresh`` at the updated weights (paper,    ``fresh``
                       4 passes a step) or ``reuse`` from the weight steps' passes
                       (2 passes, as first-order DARTS; same fixed point)
``search``             ``cell`` (operations and edges) or ``width`` (channels/layer)   ``cell``
``task``               built-in task: ``digits`` (8x8 images) or ``mnist1d`` (1-D)     ``digits``
``seed``               data split, initial weights and batch order                     ``0``
``primitives``         candidate operations on every edge (``none`` may be left out)   all seven
``nodes``              intermediate nodes per cell                                     ``2``
``layers``             cells (one reduction cell, two from 5 cells) or width blocks    ``2``
``batch_size``         search and training batch                                       ``64``
``lam``                λ: weight of the training loss in RARTS's objective             ``1.0``
``w_lr``, ``y_lr``     learning rates of the two weight copies (y: RARTS only)          ``0.05``
``arch_weight_decay``  Adam weight decay of the architecture parameters                ``1e-3``
``fractions``          width search: channel fractions each block may keep             ``[0.25, 0.5, 0.75, 1]``
``width_cost``         width search: weight of the expected channel share              ``0.5``
``train_epochs``       epochs that train the derived network from scratch              ``8``
``train_lr``           learning rate of that training                                  ``0.1``
``beta``               range ``[low, high]`` of the coupling strength β (log)          ``[0.1, 10]``
``arch_lr``            range of the architecture learning rate (log)                   ``[3e-4, 3e-2]``
``epochs``             range of search epochs                                          ``[1, 4]``
``channels``           range of initial channels C                                     ``[4, 12]``
=====================  ==============================================================  ============

The last four are the ranges of the trial parameters; give one number (``epochs: 3``) to pin
a parameter to that value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from search_spaces.base import SpaceError
from search_spaces.rarts.ops import OPS, PRIMITIVES

Range = tuple[float, float]


class RartsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["rarts", "darts1"] = "rarts"
    alpha_grad: Literal["fresh", "reuse"] = "fresh"
    search: Literal["cell", "width"] = "cell"
    task: Literal["digits", "mnist1d"] = "digits"
    seed: int = 0
    primitives: tuple[str, ...] = PRIMITIVES
    nodes: int = 2
    layers: int = 2
    batch_size: int = 64
    lam: float = 1.0
    w_lr: float = 0.05
    y_lr: float = 0.05
    arch_weight_decay: float = 1e-3
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    width_cost: float = 0.5
    train_epochs: int = 8
    train_lr: float = 0.1
    beta: Range = (0.1, 10.0)
    arch_lr: Range = (3e-4, 3e-2)
    epochs: Range = (1, 4)
    channels: Range = (4, 12)

    @field_validator("primitives")
    @classmethod
    def _known_ops(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in v if p not in OPS]
        if bad:
            raise ValueError(f"unknown operation(s) {bad}; choose from {list(OPS)}")
        if len(set(v)) != len(v) or not [p for p in v if p != "none"]:
            raise ValueError(f"{list(v)} must be distinct and hold at least one operation other than 'none'")
        return v

    @field_validator("nodes", "layers", "batch_size", "train_epochs")
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"{v} must be a positive integer")
        return v

    @field_validator("seed", "arch_weight_decay", "width_cost")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"{v} must be >= 0")
        return v

    @field_validator("lam", "w_lr", "y_lr", "train_lr")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"{v} must be > 0")
        return v

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(not 0 < f <= 1 for f in v) or len(set(v)) != len(v):
            raise ValueError(f"{list(v)} must be distinct numbers in (0, 1], e.g. [0.25, 0.5, 1]")
        return tuple(sorted(v))

    @field_validator("beta", "arch_lr", "epochs", "channels", mode="before")
    @classmethod
    def _range(cls, v: Any) -> Any:
        return (v, v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _ranges(self) -> RartsOptions:
        for name in ("beta", "arch_lr", "epochs", "channels"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(
                    f"{name}={[lo, hi]} must be a positive number or a range [low, high] with 0 < low <= high"
                )
            if name in ("epochs", "channels") and (lo != int(lo) or hi != int(hi)):
                raise ValueError(f"{name}={[lo, hi]} must hold integers")
        return self


def parse_options(raw: dict[str, Any]) -> RartsOptions:
    """Validate raw options; the error names the option, the value and what is allowed."""
    try:
        return RartsOptions(**raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "options"
            got = raw.get(str(err["loc"][0]), "?") if err["loc"] else "?"
            msgs.append(f"option {where}={got!r}: {err['msg'].removeprefix('Value error, ')}")
        raise SpaceError("rarts: " + "; ".join(msgs)) from None
