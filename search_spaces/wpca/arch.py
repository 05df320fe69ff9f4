"""The ``wpca`` space's parameters and the architecture a configuration describes.

Parameters: ``layers``, ``hidden``, ``heads``, ``ffn.0`` .. ``ffn.{max_layers-1}`` (one FFN
width per block; widths past ``layers`` are ignored), ``ffn_type`` and ``norm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from search_spaces.params import Categorical, Int, Param, validate_config
from search_spaces.wpca.model import Arch
from search_spaces.wpca.options import WpcaOptions


def space_params(o: WpcaOptions) -> dict[str, Param]:
    layers: Param = Int(1, o.max_layers) if o.max_layers > 1 else Categorical((1,))
    params: dict[str, Param] = {"layers": layers, "hidden": Categorical(o.hidden), "heads": Categorical(o.heads)}
    params |= {f"ffn.{i}": Categorical(o.ffn) for i in range(o.max_layers)}
    return params | {"ffn_type": Categorical(o.ffn_types), "norm": Categorical(o.norms)}


def arch_of(config: dict[str, Any], o: WpcaOptions) -> Arch:
    """The :class:`Arch` of a configuration (validated against the space's parameters)."""
    c = validate_config(space_params(o), config)
    n = int(c["layers"])
    return Arch(
        n,
        int(c["hidden"]),
        int(c["heads"]),
        tuple(int(c[f"ffn.{i}"]) for i in range(n)),
        str(c["ffn_type"]),
        str(c["norm"]),
    )


def sample_config(o: WpcaOptions, rng: np.random.Generator) -> dict[str, Any]:
    """One configuration drawn uniformly from every parameter."""
    out: dict[str, Any] = {}
    for name, p in space_params(o).items():
        if isinstance(p, Int):
            out[name] = int(rng.integers(p.low, p.high + 1))
        else:
            out[name] = p.choices[int(rng.integers(len(p.choices)))]  # type: ignore[union-attr]
    return out
