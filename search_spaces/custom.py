"""The ``custom`` space: parameters and objectives declared in the spec.

Users evaluate it with their own loop through ask/tell, or name an evaluator
``module:function`` that takes the params dict and returns a dict holding every
objective (extra keys are kept as metrics). An evaluator that takes a second argument,
``def evaluate(params, ctx)``, receives the :class:`EvalContext` and may report per-step
values with ``ctx.step(step, values)``, returning as soon as it answers False.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any

from search_spaces.base import EvalContext, Evaluation, Objective, SearchSpace, SpaceError, register_space
from search_spaces.params import Param


class EvaluatorError(RuntimeError):
    """The user's evaluator could not be imported or returned something unusable."""


@register_space("custom")
class CustomSpace(SearchSpace):
    summary = "Parameters and objectives declared in the spec, evaluated by your code (ask/tell or module:function)"

    def __init__(
        self,
        options: dict[str, Any] | None = None,
        *,
        params: dict[str, Param] | None = None,
        objectives: list[Objective] | None = None,
        evaluator: str | None = None,
    ) -> None:
        super().__init__(options)
        if self.options:
            raise SpaceError(f"custom: takes no options, got {sorted(self.options)}; use space.params")
        if not params:
            raise SpaceError("custom: space.params is empty; declare at least one parameter")
        if not objectives:
            raise SpaceError("custom: list the objectives in the spec ({name, direction} each)")
        self._params = dict(params)
        self._objectives = list(objectives)
        self.evaluator = evaluator
        self._fn: Callable[..., Any] | None = None

    @property
    def params(self) -> dict[str, Param]:
        return self._params

    @property
    def objectives(self) -> list[Objective]:
        return self._objectives

    def load_evaluator(self) -> Callable[..., Any]:
        if self._fn is None:
            if not self.evaluator:
                raise EvaluatorError(
                    "custom space has no evaluator: tell results through Study.tell, or set "
                    "space.evaluator: module:function"
                )
            self._fn = import_callable(self.evaluator)
        return self._fn

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        fn = self.load_evaluator()
        out = fn(dict(config), ctx) if takes_context(fn) else fn(dict(config))
        return split_result(out, [o.name for o in self._objectives], self.evaluator or "evaluator")


def import_callable(path: str) -> Callable[..., Any]:
    """Import ``module:function`` (the function may be a dotted attribute path)."""
    mod_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise EvaluatorError(f"cannot import module {mod_name!r} of evaluator {path!r}: {e}. "
                             "Is it on PYTHONPATH?") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise EvaluatorError(f"module {mod_name!r} has no attribute {attr!r} (evaluator {path!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise EvaluatorError(f"evaluator {path!r} is not callable")
    return obj


def takes_context(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts a second positional argument (the evaluation context)."""
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): call it the old way
        return False
    return True


def split_result(out: Any, objectives: list[str], who: str) -> Evaluation:
    """Turn an evaluator's return value into objective values and metrics."""
    if isinstance(out, Evaluation):
        return out
    if not isinstance(out, dict):
        raise EvaluatorError(f"{who} returned {type(out).__name__}; return a dict with {objectives}")
    missing = [k for k in objectives if k not in out]
    if missing:
        raise EvaluatorError(f"{who} returned no value for objective(s) {missing}; got keys {sorted(out)}")
    values = {}
    for k in objectives:
        v = out[k]
        try:
            values[k] = float(v)
        except (TypeError, ValueError):
            raise EvaluatorError(f"{who} returned {k}={v!r}, which is not a number") from None
        if not math.isfinite(values[k]):
            raise EvaluatorError(f"{who} returned {k}={v!r}; objective values must be finite")
    metrics = {k: v for k, v in out.items() if k not in values}
    return Evaluation(values, metrics)
