"""Parameter types of a search space and their numeric encoding for optimizers.

Every parameter maps a user value to an optimizer coordinate and back:

* ``Float`` and ``Int`` encode to the unit interval ``[0, 1]`` (log-scaled when ``log``);
* ``Categorical`` encodes to its choice index ``0 .. k-1`` (an optimizer that models
  categories, e.g. with a categorical kernel, reads ``cardinality``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

JSONScalar = float | int | str | bool | None


class ParamError(ValueError):
    """A parameter definition or value is invalid."""


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False

    kind = "float"

    def __post_init__(self) -> None:
        _check_bounds(self.low, self.high, self.log)

    def encode(self, value: Any) -> float:
        v = float(value)
        if self.log:
            return _unit(math.log(v), math.log(self.low), math.log(self.high))
        return _unit(v, self.low, self.high)

    def decode(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return float(min(max(math.exp(lo + u * (hi - lo)), self.low), self.high))
        return float(self.low + u * (self.high - self.low))

    def validate(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(f"{value!r} is not a number")
        if not (self.low <= float(value) <= self.high):
            raise ParamError(f"{value!r} is outside [{self.low}, {self.high}]")
        return float(value)

    def to_json(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False

    kind = "int"

    def __post_init__(self) -> None:
        _check_bounds(self.low, self.high, self.log)

    def encode(self, value: Any) -> float:
        # Each integer owns an equal slice of [0, 1]; its code is the slice centre.
        lo, hi = self._edges()
        v = math.log(float(value)) if self.log else float(value)
        return _unit(v, lo, hi)

    def decode(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        lo, hi = self._edges()
        x = lo + u * (hi - lo)
        v = math.exp(x) if self.log else x
        return int(min(max(round(v), self.low), self.high))

    def _edges(self) -> tuple[float, float]:
        if self.log:  # low >= 1 here, so low - 0.5 > 0
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        return self.low - 0.5, self.high + 0.5

    def validate(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ParamError(f"{value!r} is not an integer")
        if not (self.low <= int(value) <= self.high):
            raise ParamError(f"{value!r} is outside [{self.low}, {self.high}]")
        return int(value)

    def to_json(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Categorical:
    choices: tuple[JSONScalar, ...]

    kind = "categorical"

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(self.choices) < 1:
            raise ParamError("a categorical parameter needs at least one choice")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise ParamError(f"categorical choices repeat: {list(self.choices)}")

    @property
    def cardinality(self) -> int:
        return len(self.choices)

    def encode(self, value: Any) -> float:
        return float(self.index(value))

    def decode(self, u: float) -> JSONScalar:
        i = int(min(max(round(float(u)), 0), len(self.choices) - 1))
        return self.choices[i]

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if repr(c) == repr(value):
                return i
        raise ParamError(f"{value!r} is not one of {list(self.choices)}")

    def validate(self, value: Any) -> JSONScalar:
        return self.choices[self.index(value)]

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


Param = Float | Int | Categorical


def param_from_json(d: dict[str, Any]) -> Param:
    """Build a parameter from its JSON form (``{"type": "float", "low": .., "high": ..}``)."""
    kind = d.get("type")
    if kind == "float":
        return Float(float(d["low"]), float(d["high"]), bool(d.get("log", False)))
    if kind == "int":
        return Int(int(d["low"]), int(d["high"]), bool(d.get("log", False)))
    if kind == "categorical":
        return Categorical(tuple(d["choices"]))
    raise ParamError(f"unknown parameter type {kind!r}: use float, int or categorical")


def validate_config(params: dict[str, Param], config: dict[str, Any]) -> dict[str, Any]:
    """Check a configuration against the parameters; returns it with canonical types."""
    missing = sorted(set(params) - set(config))
    extra = sorted(set(config) - set(params))
    if missing or extra:
        raise ParamError(f"configuration keys differ from the space: missing {missing}, "
                         f"unknown {extra}")
    out: dict[str, Any] = {}
    for name, p in params.items():
        try:
            out[name] = p.validate(config[name])
        except ParamError as e:
            raise ParamError(f"parameter {name!r}: {e}") from None
    return out


def _check_bounds(low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ParamError(f"bounds must be finite, got low={low}, high={high}")
    if low >= high:
        raise ParamError(f"low ({low}) must be smaller than high ({high})")
    if log and low <= 0:
        raise ParamError(f"a log-scaled parameter needs low > 0, got low={low}")


def _unit(v: float, lo: float, hi: float) -> float:
    return min(max((v - lo) / (hi - lo), 0.0), 1.0)
