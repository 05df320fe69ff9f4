"""Study specs (YAML or JSON), validated with pydantic before anything is written.

Every error names the field, the bad value and what is allowed: :class:`SpecError`
carries one line per problem.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from search_spaces.base import Objective, SearchSpace, SpaceError, make_space, space_names
from search_spaces.params import Param, ParamError, param_from_json


class SpecError(ValueError):
    """A study spec is invalid; the message lists each bad field, value and the fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParamSpec(_Model):
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
            if self.low >= self.high:
                raise ValueError(f"low ({self.low:g}) must be smaller than high ({self.high:g})")
            if self.log and self.low <= 0:
                raise ValueError(f"log scale needs low > 0, got low={self.low:g}")
        return self

    def to_param(self) -> Param:
        return param_from_json(self.model_dump(exclude_none=True))


class SpaceSpec(_Model):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, ParamSpec] | None = None
    evaluator: str | None = None

    @field_validator("evaluator")
    @classmethod
    def _evaluator_path(cls, v: str | None) -> str | None:
        if v is not None and (":" not in v or not all(v.split(":", 1))):
            raise ValueError(f"'{v}' is not an import path: write it as module:function")
        return v


class ObjectiveSpec(_Model):
    name: str
    # None keeps the space's own direction (``min`` for the custom space, which has none)
    direction: Literal["min", "max"] | None = None
    ref: float | None = None


class OptimizerSpec(_Model):
    model_config = ConfigDict(extra="allow")
    name: str = "mobo"
    seed: int = 0

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BudgetSpec(_Model):
    trials: int = Field(gt=0)


class ExecutorSpec(_Model):
    name: Literal["local", "ray"] = "ray"
    workers: int = Field(default=2, gt=0)
    cpus_per_trial: float = Field(default=1.0, gt=0)
    gpus_per_trial: float = Field(default=0.0, ge=0)
    address: str | None = None


class ConstraintSpec(_Model):
    metric: str
    le: float | None = Field(default=None, alias="<=")
    ge: float | None = Field(default=None, alias=">=")

    @model_validator(mode="after")
    def _one_bound(self) -> ConstraintSpec:
        if self.le is None and self.ge is None:
            raise ValueError("a constraint needs '<=' or '>=' with a number")
        return self


class SchedulerSpec(_Model):
    """``scheduler: {name: moasha, min_step: 1, max_step: 27, eta: 3}``: early stopping from
    ``ctx.step`` reports; the options are validated by the scheduler (:mod:`nas.schedulers`)."""

    model_config = ConfigDict(extra="allow")
    name: str = "none"

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LeaseSpec(_Model):
    heartbeat_s: float = Field(default=5.0, gt=0)
    grace_s: float = Field(default=60.0, gt=0)


class StudySpec(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
    space: SpaceSpec
    objectives: list[ObjectiveSpec] | None = None
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    budget: BudgetSpec
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    max_retries: int = Field(default=2, ge=0)
    # seconds one evaluation may take before its worker process is ended and it FAILs
    trial_timeout_s: float | None = Field(default=None, gt=0)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    lease: LeaseSpec = Field(default_factory=LeaseSpec)
    # part of the study's identity (spec_hash): a different scheduler is a different study
    scheduler: SchedulerSpec | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)

    def spec_hash(self) -> str:
        """Identity of what the study computes: the executor and budget may change on resume."""
        d = json.loads(self.to_json())
        for k in ("executor", "budget", "lease", "trial_timeout_s"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON spec file into a dict."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"spec file {str(p)!r} does not exist")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError / json.JSONDecodeError
        raise SpecError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{p}: a spec must be a mapping with name, space, budget, ...")
    return data


def parse_spec(data: dict[str, Any] | StudySpec) -> StudySpec:
    """Validate the shape of a spec; raises :class:`SpecError` listing every problem."""
    if isinstance(data, StudySpec):
        return data
    try:
        return StudySpec.model_validate(data)
    except ValidationError as e:
        raise SpecError("invalid study spec:\n" + "\n".join(_describe(err) for err in e.errors())) from None


def _describe(err: Any) -> str:
    loc = ""
    for part in err["loc"]:
        loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"  {loc}: missing (required)"
    if err["type"] == "extra_forbidden":
        return f"  {loc}: unknown field (remove it or check its spelling)"
    return f"  {loc}: {err.get('input')!r} is not valid: {msg}"


def build_space(spec: StudySpec) -> SearchSpace:
    """Construct the spec's search space, turning option errors into :class:`SpecError`."""
    if spec.space.name not in space_names():
        known = space_names()
        raise SpecError(f"space.name: unknown search space {spec.space.name!r}; choose one of {known}")
    try:
        if spec.space.name == "custom":
            return make_space(
                "custom",
                spec.space.options,
                params={k: p.to_param() for k, p in (spec.space.params or {}).items()},
                objectives=[Objective(o.name, o.direction or "min", o.ref) for o in spec.objectives or []],
                evaluator=spec.space.evaluator,
            )
        if spec.space.params or spec.space.evaluator:
            raise SpecError(f"space.params / space.evaluator belong to the custom space, not "
                            f"{spec.space.name!r}: put its settings under space.options")
        return make_space(spec.space.name, spec.space.options)
    except (SpaceError, ParamError) as e:
        raise SpecError(f"space: {e}") from None


def resolve_objectives(spec: StudySpec, space: SearchSpace) -> list[Objective]:
    """The study's objectives: the spec's (checked against the space) or the space's defaults."""
    available = {o.name: o for o in space.objectives}
    if spec.objectives is None:
        defaults = getattr(space, "default_objective_names", None)
        return [available[n] for n in defaults] if defaults else list(space.objectives)
    if not spec.objectives:
        raise SpecError("objectives: [] is empty; list at least one {name, direction}")
    out, seen = [], set()
    for i, o in enumerate(spec.objectives):
        if o.name in seen:
            raise SpecError(f"objectives[{i}].name: {o.name!r} is listed twice; each objective once")
        seen.add(o.name)
        if o.name not in available:
            raise SpecError(
                f"objectives[{i}].name: {o.name!r} is not an objective of space "
                f"{space.name!r}; choose from {sorted(available)}"
            )
        ref = o.ref if o.ref is not None else available[o.name].ref
        out.append(Objective(o.name, o.direction or available[o.name].direction, ref))
    return out


def validate_study_spec(data: dict[str, Any] | StudySpec) -> tuple[StudySpec, SearchSpace, list[Objective]]:
    """Full validation: shape, space and options, objectives, constraints, optimizer."""
    spec = parse_spec(data)
    space = build_space(spec)
    objectives = resolve_objectives(spec, space)
    check_optimizer(spec)
    check_scheduler(spec, [(o.name, o.direction) for o in objectives])
    return spec, space, objectives


def check_scheduler(spec: StudySpec, objectives: list[tuple[str, str]]) -> None:
    """The scheduler exists and its options validate, for these ``(name, direction)``
    objectives (each bad one named with the fix)."""
    if spec.scheduler is None:
        return
    from nas.schedulers import SchedulerError, make_scheduler

    try:
        make_scheduler(spec.scheduler.name, spec.scheduler.options(), objectives)
    except SchedulerError as e:
        raise SpecError(f"scheduler: {e}") from None


def check_optimizer(spec: StudySpec) -> None:
    """The optimizer exists and its options validate (each unknown or bad one named)."""
    from nas.optimizers import OptimizerError, get_optimizer_class, optimizer_names

    if spec.optimizer.name not in optimizer_names():
        raise SpecError(
            f"optimizer.name: unknown optimizer {spec.optimizer.name!r}; choose one of {optimizer_names()}"
        )
    try:
        get_optimizer_class(spec.optimizer.name).parse_options(spec.optimizer.options())
    except OptimizerError as e:
        raise SpecError(f"optimizer: {e}") from None
