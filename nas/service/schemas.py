"""Response shapes, for the OpenAPI document at ``/docs``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ObjectiveOut(BaseModel):
    name: str
    direction: Literal["min", "max"]


class StudyOut(BaseModel):
    name: str
    space: str
    state: Literal["running", "stopping", "complete", "stopped", "failed", "interrupted"]
    budget: int
    counts: dict[str, int]
    complete: int
    progress: float
    objectives: list[ObjectiveOut]
    created_at: str
    error: str | None = None
    spec: dict[str, Any]


class TrialOut(BaseModel):
    number: int
    state: str
    params: dict[str, Any]
    values: dict[str, float] | None = None
    metrics: dict[str, Any] = {}
    error: str | None = None
    attempt: int = 0
    worker_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    is_pareto: bool = False
    feasible: bool = True


class TrialPage(BaseModel):
    total: int
    offset: int
    limit: int
    trials: list[TrialOut]


class HypervolumePoint(BaseModel):
    number: int
    hypervolume: float


class HypervolumeOut(BaseModel):
    reference_point: list[float]
    history: list[HypervolumePoint]


class ErrorOut(BaseModel):
    detail: Any
