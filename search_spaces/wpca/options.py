"""Options of the ``wpca`` space, validated into a frozen dataclass before anything runs.

==================  ===================================================  ==========================
option              meaning                                              default
==================  ===================================================  ==========================
``proxy``           the score objective: a name from ``proxies.zero_cost``  ``wpca``
``eta``             W-PCA's cumulative explained variance η, in (0, 1]   ``0.99``
``max_layers``      most transformer blocks (the ``layers`` parameter)   ``4``
``hidden``          hidden sizes to choose from                          ``[64, 128, 192, 256]``
``heads``           attention head counts to choose from                 ``[1, 2, 4, 8]``
``ffn``             per-layer FFN widths to choose from                  ``[64, 128, 256, 512, 768]``
``ffn_types``       FFN types: ``mlp`` (GELU) and/or ``glu`` (SiLU gate)  ``[mlp, glu]``
``norms``           LayerNorm placement: ``post`` and/or ``pre``         ``[post, pre]``
``max_length``      tokens per sequence (MiniLM tokenizer)               ``64``
``batches``         minibatches of real BBC News text the proxy reads    ``2``
``batch_size``      sequences per minibatch                              ``16``
``seed``            weight initialisation and data seed                  ``0``
==================  ===================================================  ==========================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from search_spaces.base import SpaceError
from search_spaces.wpca.model import FFN_TYPES, NORMS

ALLOWED = (
    "proxy",
    "eta",
    "max_layers",
    "hidden",
    "heads",
    "ffn",
    "ffn_types",
    "norms",
    "max_length",
    "batches",
    "batch_size",
    "seed",
)


@dataclass(frozen=True)
class WpcaOptions:
    proxy: str = "wpca"
    eta: float = 0.99
    max_layers: int = 4
    hidden: tuple[int, ...] = (64, 128, 192, 256)
    heads: tuple[int, ...] = (1, 2, 4, 8)
    ffn: tuple[int, ...] = (64, 128, 256, 512, 768)
    ffn_types: tuple[str, ...] = FFN_TYPES
    norms: tuple[str, ...] = NORMS
    max_length: int = 64
    batches: int = 2
    batch_size: int = 16
    seed: int = 0


def parse_options(o: dict[str, Any]) -> WpcaOptions:
    """Validate raw options; every error names the option, the value and what is allowed."""
    from proxies.zero_cost import proxy_names

    unknown = sorted(set(o) - set(ALLOWED))
    if unknown:
        raise SpaceError(f"wpca: unknown option(s) {unknown}; allowed: {', '.join(ALLOWED)}")
    d = WpcaOptions()
    proxy = o.get("proxy", d.proxy)
    if proxy not in proxy_names():
        raise SpaceError(f"wpca: option proxy={proxy!r} is unknown; choose one of {proxy_names()}")
    eta = o.get("eta", d.eta)
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not 0 < eta <= 1:
        raise SpaceError(f"wpca: option eta={eta!r} must be a number in (0, 1], e.g. 0.99")
    out = WpcaOptions(
        proxy=str(proxy),
        eta=float(eta),
        max_layers=_int(o, "max_layers", d.max_layers, 1, 24),
        hidden=_ints(o, "hidden", d.hidden, 8, 4096),
        heads=_ints(o, "heads", d.heads, 1, 64),
        ffn=_ints(o, "ffn", d.ffn, 8, 16384),
        ffn_types=_names(o, "ffn_types", d.ffn_types, FFN_TYPES),
        norms=_names(o, "norms", d.norms, NORMS),
        max_length=_int(o, "max_length", d.max_length, 8, 512),
        batches=_int(o, "batches", d.batches, 1, 64),
        batch_size=_int(o, "batch_size", d.batch_size, 2, 512),
        seed=_int(o, "seed", d.seed, 0, 2**31 - 1),
    )
    bad = [(h, k) for h in out.hidden for k in out.heads if h % k]
    if bad:
        raise SpaceError(
            f"wpca: option hidden={list(out.hidden)} with heads={list(out.heads)}: hidden size "
            f"{bad[0][0]} is not divisible by {bad[0][1]} heads; every hidden size must be a "
            "multiple of every head count"
        )
    return out


def _int(o: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpaceError(f"wpca: option {key}={v!r} must be an integer from {lo} to {hi}")
    return v


def _ints(o: dict[str, Any], key: str, default: Sequence[int], lo: int, hi: int) -> tuple[int, ...]:
    v = o.get(key, list(default))
    ok = (
        isinstance(v, list | tuple)
        and len(v) > 0
        and len(set(v)) == len(v)
        and all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v)
    )
    if not ok:
        raise SpaceError(f"wpca: option {key}={v!r} must be a non-empty list of distinct integers from {lo} to {hi}")
    return tuple(sorted(v))


def _names(o: dict[str, Any], key: str, default: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    v = o.get(key, list(default))
    if not isinstance(v, list | tuple) or not v or len(set(v)) != len(v) or any(x not in allowed for x in v):
        raise SpaceError(f"wpca: option {key}={v!r} must be a non-empty list drawn from {list(allowed)}")
    return tuple(v)
