"""Options of the ``autopeft`` space, validated into a frozen dataclass before anything runs.

==================  ====================================================  ==========================
option              meaning                                               default
==================  ====================================================  ==========================
``modules``         modules searched: ``serial``, ``parallel``, ``prefix``  all three
``sizes``           ladder per module (0 turns it off), e.g.              see :data:`LADDERS`
                    ``{serial: [0, 8, 64]}``
``layers``          encoder layers that may get modules (0-based)         every layer (0..5)
``max_length``      tokens per article (8..512)                           ``32``
``epochs``          training budget in epochs (fractions allowed)         ``0.5``
``lr``              AdamW learning rate of the modules and the head       ``0.003``
``batch_size``      training batch size                                   ``32``
``seed``            data split and training seed                          ``0``
``threads``         torch intra-op threads during a trial                 ``1``
==================  ====================================================  ==========================
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from search_spaces.base import SpaceError
from search_spaces.tasks.text import MAX_POSITIONS, TextTaskError, bbc_dir, minilm_dir

MODULES = ("serial", "parallel", "prefix")
# Doubling ladders up to MiniLM's hidden size (384) for the bottlenecks, as the AutoPEFT
# paper's ladders go up to BERT's hidden size; prefixes stop at 48 virtual tokens.
LADDERS: dict[str, tuple[int, ...]] = {
    "serial": (0, 1, 3, 6, 12, 24, 48, 96, 192, 384),
    "parallel": (0, 1, 3, 6, 12, 24, 48, 96, 192, 384),
    "prefix": (0, 1, 3, 6, 12, 24, 48),
}
MAX_SIZE = 1024
ALLOWED = ("modules", "sizes", "layers", "max_length", "epochs", "lr", "batch_size", "seed", "threads")


@dataclass(frozen=True)
class AutopeftOptions:
    modules: tuple[str, ...] = MODULES
    sizes: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(LADDERS))
    layers: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    max_length: int = 32
    epochs: float = 0.5
    lr: float = 3e-3
    batch_size: int = 32
    seed: int = 0
    threads: int = 1


def encoder_layers() -> int:
    """MiniLM-L6's layer count, read from the package's ``config.json`` (no weights loaded).

    Raises :class:`SpaceError` naming the package to install when the model or data is missing.
    """
    try:
        bbc_dir()
        cfg = json.loads((minilm_dir() / "config.json").read_text())
    except TextTaskError as e:
        raise SpaceError(f"autopeft: {e}") from None
    return int(cfg["num_hidden_layers"])


def parse_options(o: dict[str, Any], n_layers: int) -> AutopeftOptions:
    """Validate raw options; every error names the option, the value and what is allowed."""
    unknown = sorted(set(o) - set(ALLOWED))
    if unknown:
        raise SpaceError(f"autopeft: unknown option(s) {unknown}; allowed: {', '.join(ALLOWED)}")
    modules = _modules(o.get("modules", list(MODULES)))
    return AutopeftOptions(
        modules=modules,
        sizes=_sizes(o.get("sizes", {}), modules),
        layers=_layers(o.get("layers", list(range(n_layers))), n_layers),
        max_length=_int(o, "max_length", 32, 8, MAX_POSITIONS),
        epochs=_float(o, "epochs", 0.5, 0.0, 100.0),
        lr=_float(o, "lr", 3e-3, 0.0, 1.0),
        batch_size=_int(o, "batch_size", 32, 1, 4096),
        seed=_int(o, "seed", 0, 0, 2**31 - 1),
        threads=_int(o, "threads", 1, 1, 256),
    )


def _modules(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list | tuple) or not v or len(set(v)) != len(v):
        raise SpaceError(
            f"autopeft: option modules={v!r} must be a non-empty list of distinct names from {list(MODULES)}"
        )
    bad = [m for m in v if m not in MODULES]
    if bad:
        raise SpaceError(f"autopeft: option modules has unknown module(s) {bad}; choose from {list(MODULES)}")
    return tuple(m for m in MODULES if m in v)


def _sizes(v: Any, modules: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    if not isinstance(v, dict):
        raise SpaceError(f"autopeft: option sizes={v!r} must map module names to ladders, e.g. {{serial: [0, 8, 64]}}")
    bad = sorted(set(v) - set(MODULES))
    if bad:
        raise SpaceError(f"autopeft: option sizes names unknown module(s) {bad}; choose from {list(MODULES)}")
    unsearched = sorted(set(v) - set(modules))
    if unsearched:
        raise SpaceError(
            f"autopeft: option sizes gives ladders for {unsearched}, which option modules "
            f"leaves out ({list(modules)}); add them to modules or drop their ladders"
        )
    return {m: _ladder(m, v.get(m, LADDERS[m])) for m in modules}


def _ladder(module: str, v: Any) -> tuple[int, ...]:
    ok = (
        isinstance(v, list | tuple)
        and len(v) > 0
        and all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SIZE for s in v)
    )
    if not ok or len(set(v)) != len(v):
        raise SpaceError(
            f"autopeft: option sizes.{module}={v!r} must be a non-empty list of distinct "
            f"integers from 0 (module off) to {MAX_SIZE}, e.g. [0, 8, 64]"
        )
    return tuple(sorted(v))


def _layers(v: Any, n_layers: int) -> tuple[int, ...]:
    ok = isinstance(v, list | tuple) and len(v) > 0 and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
    if not ok or len(set(v)) != len(v):
        raise SpaceError(
            f"autopeft: option layers={v!r} must be a non-empty list of distinct layer indices from 0 to {n_layers - 1}"
        )
    outside = [i for i in v if not 0 <= i < n_layers]
    if outside:
        raise SpaceError(
            f"autopeft: option layers has {outside} outside the encoder; MiniLM-L6 has layers 0 to {n_layers - 1}"
        )
    return tuple(sorted(v))


def _int(o: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpaceError(f"autopeft: option {key}={v!r} must be an integer from {lo} to {hi}")
    return v


def _float(o: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo < v <= hi:
        raise SpaceError(f"autopeft: option {key}={v!r} must be a number in ({lo}, {hi}]")
    return float(v)
