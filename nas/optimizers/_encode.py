"""Encoding between configurations and optimizer coordinates (numpy arrays)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from search_spaces.params import Categorical, Param


def encode(params: dict[str, Param], configs: Sequence[dict[str, Any]]) -> np.ndarray:
    """Configs -> ``n x d`` array: floats/ints in [0, 1], categoricals as choice index."""
    names = list(params)
    out = np.empty((len(configs), len(names)), dtype=float)
    for i, c in enumerate(configs):
        for j, k in enumerate(names):
            out[i, j] = params[k].encode(c[k])
    return out


def decode(params: dict[str, Param], x: np.ndarray) -> list[dict[str, Any]]:
    """``n x d`` array -> configs (inverse of :func:`encode`, rounding as needed)."""
    names = list(params)
    return [{k: params[k].decode(row[j]) for j, k in enumerate(names)} for row in x]


def categorical_dims(params: dict[str, Param]) -> dict[int, int]:
    """Column index -> cardinality for every categorical parameter."""
    return {j: p.cardinality for j, p in enumerate(params.values()) if isinstance(p, Categorical)}


def unit_to_space(params: dict[str, Param], u: np.ndarray) -> np.ndarray:
    """Map points of the unit cube to encoded coordinates (categoricals to indices)."""
    x = np.array(u, dtype=float, copy=True)
    for j, card in categorical_dims(params).items():
        x[:, j] = np.minimum(np.floor(u[:, j] * card), card - 1)
    return x
