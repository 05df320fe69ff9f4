"""Options of the ``hawq`` space, validated into a frozen dataclass.

======================  =========================================  ===================
option                  meaning                                    default
======================  =========================================  ===================
``task``                built-in task: ``digits`` or ``mnist1d``   ``digits``
``model``               user model ``"module:function"``           none (use ``task``)
``model_kwargs``        keyword arguments for that function        ``{}``
``seed``                training seed of the built-in model        ``0``
``bits``                allowed weight bit-widths (2..16)          ``[2, 3, ..., 8]``
``per_channel``         per-output-channel weight scales           ``true``
``act_bits``            activation bit-width (accuracy and BOPs)   ``8``
``hessian_iters``       most Hutchinson probes                     ``128``
``hessian_tol``         relative standard error to stop at         ``0.05``
``hessian_batches``     training batches the Hessian averages      ``4``
======================  =========================================  ===================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from search_spaces.base import SpaceError
from search_spaces.tasks.vision import TASKS

ALLOWED = ("task", "model", "model_kwargs", "seed", "bits", "per_channel", "act_bits",
           "hessian_iters", "hessian_tol", "hessian_batches")


@dataclass(frozen=True)
class HawqOptions:
    task: str = "digits"
    model: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    bits: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    per_channel: bool = True
    act_bits: int = 8
    hessian_iters: int = 128
    hessian_tol: float = 0.05
    hessian_batches: int = 4


def parse_options(o: dict[str, Any]) -> HawqOptions:
    """Validate raw options; every error names the option, the value and what is allowed."""
    unknown = sorted(set(o) - set(ALLOWED))
    if unknown:
        raise SpaceError(f"hawq: unknown option(s) {unknown}; allowed: {', '.join(ALLOWED)}")
    if "model" in o and "task" in o:
        raise SpaceError(f"hawq: give either task={o['task']!r} or model={o['model']!r}, not both")
    return HawqOptions(
        task=_task(o.get("task", "digits")),
        model=_model(o.get("model")),
        model_kwargs=_kwargs(o.get("model_kwargs", {})),
        seed=_int(o, "seed", 0, 0, 2**31 - 1),
        bits=_bits(o.get("bits", list(HawqOptions.bits))),
        per_channel=_bool(o, "per_channel", True),
        act_bits=_int(o, "act_bits", 8, 2, 16),
        hessian_iters=_int(o, "hessian_iters", 128, 2, 100_000),
        hessian_tol=_float(o, "hessian_tol", 0.05, 0.0, 1.0),
        hessian_batches=_int(o, "hessian_batches", 4, 1, 10_000),
    )


def _task(v: Any) -> str:
    if v not in TASKS:
        raise SpaceError(f"hawq: option task={v!r} is unknown; choose one of {list(TASKS)}")
    return str(v)


def _model(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or v.count(":") != 1 or not all(v.split(":")):
        raise SpaceError(f"hawq: option model={v!r} must be 'package.module:function' returning "
                         "(model, train_batches, test_batches[, criterion])")
    return v


def _kwargs(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise SpaceError(f"hawq: option model_kwargs={v!r} must be a mapping of names to values")
    return dict(v)


def _bits(v: Any) -> tuple[int, ...]:
    ok = isinstance(v, list | tuple) and len(v) > 0 and all(
        isinstance(b, int) and not isinstance(b, bool) and 2 <= b <= 16 for b in v)
    if not ok or len(set(v)) != len(v):
        raise SpaceError(f"hawq: option bits={v!r} must be a non-empty list of distinct integers "
                         "from 2 to 16, e.g. [2, 4, 8]")
    return tuple(sorted(v))


def _int(o: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpaceError(f"hawq: option {key}={v!r} must be an integer from {lo} to {hi}")
    return v


def _float(o: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    v = o.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo < v <= hi:
        raise SpaceError(f"hawq: option {key}={v!r} must be a number in ({lo}, {hi}]")
    return float(v)


def _bool(o: dict[str, Any], key: str, default: bool) -> bool:
    v = o.get(key, default)
    if not isinstance(v, bool):
        raise SpaceError(f"hawq: option {key}={v!r} must be true or false")
    return v
