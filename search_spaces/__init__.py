"""Search spaces: parameters plus ``evaluate(config, ctx) -> Evaluation``, one module each."""

from search_spaces.base import (
    EvalContext,
    Evaluation,
    Objective,
    SearchSpace,
    SpaceError,
    get_space_class,
    make_space,
    register_space,
    space_names,
)
from search_spaces.params import Categorical, Float, Int, Param, ParamError

__all__ = [
    "Categorical",
    "EvalContext",
    "Evaluation",
    "Float",
    "Int",
    "Objective",
    "Param",
    "ParamError",
    "SearchSpace",
    "SpaceError",
    "get_space_class",
    "make_space",
    "register_space",
    "space_names",
]
