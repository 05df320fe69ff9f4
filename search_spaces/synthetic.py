"""Standard multi-objective test problems, so studies run before any model is involved.

Options: ``problem`` (``branincurrin``, ``zdt1``, ``zdt2``, ``zdt3``, ``dtlz2``, ``mixed``),
``dim`` (number of inputs, ZDT/DTLZ/mixed) and ``n_obj`` (DTLZ2). All objectives are
minimized; each carries the reference point usual in the literature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from search_spaces.base import (
    EvalContext,
    Evaluation,
    Objective,
    SearchSpace,
    SpaceError,
    register_space,
)
from search_spaces.params import Categorical, Float, Int, Param

MIXED_COST = {"a": 0.0, "b": 0.3, "c": 0.6, "d": 1.0}


def branin_currin(x: np.ndarray) -> np.ndarray:
    """BraninCurrin on [0, 1]^2 (both minimized)."""
    x0, x1 = 15 * x[0] - 5, 15 * x[1]
    b = (x1 - 5.1 / (4 * math.pi**2) * x0**2 + 5 / math.pi * x0 - 6) ** 2
    b += 10 * (1 - 1 / (8 * math.pi)) * math.cos(x0) + 10
    u, v = x[0], max(x[1], 1e-12)
    c = (1 - math.exp(-1 / (2 * v))) * (2300 * u**3 + 1900 * u**2 + 2092 * u + 60)
    c /= 100 * u**3 + 500 * u**2 + 4 * u + 20
    return np.array([b, c])


def zdt(x: np.ndarray, variant: int) -> np.ndarray:
    """ZDT1/2/3 on [0, 1]^d."""
    f1 = x[0]
    g = 1 + 9 * float(np.mean(x[1:]))
    r = f1 / g
    if variant == 1:
        h = 1 - math.sqrt(r)
    elif variant == 2:
        h = 1 - r**2
    else:
        h = 1 - math.sqrt(r) - r * math.sin(10 * math.pi * f1)
    return np.array([f1, g * h])


def dtlz2(x: np.ndarray, n_obj: int) -> np.ndarray:
    """DTLZ2 on [0, 1]^d with ``n_obj`` objectives."""
    g = float(np.sum((x[n_obj - 1 :] - 0.5) ** 2))
    f = []
    for i in range(n_obj):
        v = 1 + g
        for xj in x[: n_obj - 1 - i]:
            v *= math.cos(xj * math.pi / 2)
        if i > 0:
            v *= math.sin(x[n_obj - 1 - i] * math.pi / 2)
        f.append(v)
    return np.array(f)


def mixed(config: dict[str, Any], dim: int) -> np.ndarray:
    """A ZDT1-shaped problem over floats, an integer and a categorical parameter: the
    front needs ``n = 1`` and ``op = "a"``."""
    xs = [config[f"x{i}"] for i in range(dim)]
    penalties = [*xs[1:], (config["n"] - 1) / 7, MIXED_COST[config["op"]]]
    g = 1 + 9 * float(np.mean(penalties))
    f1 = xs[0]
    return np.array([f1, g * (1 - math.sqrt(f1 / g))])


_PROBLEMS: dict[str, tuple[int, Callable[..., np.ndarray]]] = {
    "branincurrin": (2, lambda x, m: branin_currin(x)),
    "zdt1": (6, lambda x, m: zdt(x, 1)),
    "zdt2": (6, lambda x, m: zdt(x, 2)),
    "zdt3": (6, lambda x, m: zdt(x, 3)),
    "dtlz2": (6, dtlz2),
}


@register_space("synthetic")
class SyntheticSpace(SearchSpace):
    summary = "Multi-objective test problems: BraninCurrin, ZDT1-3, DTLZ2, mixed int/categorical"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.options
        unknown = sorted(set(o) - {"problem", "dim", "n_obj"})
        if unknown:
            raise SpaceError(f"synthetic: unknown option(s) {unknown}; allowed: problem, dim, n_obj")
        self.problem = str(o.get("problem", "zdt1")).lower()
        allowed = [*_PROBLEMS, "mixed"]
        if self.problem not in allowed:
            raise SpaceError(f"synthetic: problem {self.problem!r} is unknown; choose one of {allowed}")
        default_dim = 2 if self.problem == "branincurrin" else (3 if self.problem == "mixed" else 6)
        self.dim = _int_option(o, "dim", default_dim, 1 if self.problem == "mixed" else 2)
        self.n_obj = _int_option(o, "n_obj", 3 if self.problem == "dtlz2" else 2, 2)
        if self.problem == "branincurrin" and self.dim != 2:
            raise SpaceError(f"synthetic: branincurrin has dim 2, got dim={self.dim}; drop 'dim'")
        if self.problem != "dtlz2" and "n_obj" in o and self.n_obj != 2:
            raise SpaceError(f"synthetic: {self.problem} has 2 objectives, got n_obj={self.n_obj}")
        if self.problem == "dtlz2" and self.dim < self.n_obj:
            raise SpaceError(f"synthetic: dtlz2 needs dim >= n_obj, got dim={self.dim}, "
                             f"n_obj={self.n_obj}")

    @property
    def params(self) -> dict[str, Param]:
        p: dict[str, Param] = {f"x{i}": Float(0.0, 1.0) for i in range(self.dim)}
        if self.problem == "mixed":
            p["n"] = Int(1, 8)
            p["op"] = Categorical(tuple(MIXED_COST))
        return p

    @property
    def objectives(self) -> list[Objective]:
        if self.problem == "branincurrin":
            refs = [18.0, 6.0]
        elif self.problem == "dtlz2":
            refs = [1.1] * self.n_obj
        else:
            refs = [11.0, 11.0]
        return [Objective(f"f{i + 1}", "min", r) for i, r in enumerate(refs)]

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        if self.problem == "mixed":
            f = mixed(config, self.dim)
        else:
            x = np.array([config[f"x{i}"] for i in range(self.dim)], dtype=float)
            f = _PROBLEMS[self.problem][1](x, self.n_obj)
        return Evaluation({f"f{i + 1}": float(v) for i, v in enumerate(f)})


def _int_option(o: dict[str, Any], key: str, default: int, minimum: int) -> int:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise SpaceError(f"synthetic: option {key}={v!r} must be an integer >= {minimum}")
    return v
