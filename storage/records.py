"""Trial state and the immutable view of one trial that the store hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TrialState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    #: Ended early by the study's scheduler; holds its last step's values, never on the
    #: Pareto front, and counts against the budget like a COMPLETE trial.
    STOPPED = "STOPPED"

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED, TrialState.STOPPED)


@dataclass(frozen=True)
class Trial:
    """One trial as read from the store. ``values`` maps objective name to value."""

    id: int
    number: int
    state: TrialState
    params: dict[str, Any]
    values: dict[str, float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempt: int = 0
    worker_id: str | None = None
    heartbeat_at: datetime | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    is_pareto: bool = False
    feasible: bool = True
    requeued: bool = False  # a FAILED trial whose retry counts against the budget instead
    last_step: int | None = None  # the last ``ctx.step`` reported (filled by trial listings)

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` shape: number, state, params, values (+ details)."""
        return {
            "number": self.number,
            "state": self.state.value,
            "params": self.params,
            "values": self.values,
            "metrics": self.metrics,
            "error": self.error,
            "attempt": self.attempt,
            "worker_id": self.worker_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "is_pareto": self.is_pareto,
            "feasible": self.feasible,
            "requeued": self.requeued,
            "last_step": self.last_step,
        }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


@dataclass(frozen=True)
class TrialStep:
    """One ``ctx.step`` report: the values after ``step`` and the scheduler's decision
    then (``"continue"``, ``"stop"``, or None where the step is no decision point)."""

    step: int
    values: dict[str, float]
    decision: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "values": self.values, "decision": self.decision,
                "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class ObjectiveInfo:
    name: str
    direction: str  # "min" | "max"
    ref: float | None = None


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    spec_json: str
    spec_hash: str
    budget: int
    objectives: tuple[ObjectiveInfo, ...]
    created_at: datetime


@dataclass(frozen=True)
class StudySummary:
    name: str
    budget: int
    created_at: datetime
    counts: dict[str, int]
    space: str = ""
