"""The store's policies, apart from its SQL: Pareto-flag maintenance and retries.

Pure functions over plain values (and the ORM row they fill in), so they can be read and
tested without a database. :func:`dominates` is a pure-Python copy of the project's one
numpy dominance rule (:func:`nas.pareto.dominates`): storage depends on no other layer,
and a front update compares one point with a handful, where numpy gains nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime

from storage.models import TrialRow


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b`` (minimisation): no worse everywhere, better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_update(front: Sequence[tuple[Hashable, Sequence[float]]], y: Sequence[float]) -> tuple[bool, list[Hashable]]:
    """Whether ``y`` joins the ``front`` of ``(key, point)`` pairs, and the keys it pushes out.

    All points in minimisation orientation. A point equal to a front member joins it
    (neither dominates the other).
    """
    beaten = []
    for key, f in front:
        if dominates(f, y):
            return False, []
        if dominates(y, f):
            beaten.append(key)
    return True, beaten


def retry_of(r: TrialRow, number: int, max_retries: int, now: datetime) -> TrialRow | None:
    """The PENDING retry of failed trial ``r`` as trial ``number``, or None once
    ``max_retries`` retries have been spent (``r.attempt`` counts from 0)."""
    if r.attempt >= max_retries:
        return None
    return TrialRow(
        study_id=r.study_id, number=number, state="PENDING", params_json=r.params_json,
        attempt=r.attempt + 1, retry_of=r.id, requeued=False, created_at=now,
        is_pareto=False, feasible=True,
    )


def failure_message(reason: str, attempt: int, retry_number: int | None) -> str:
    """The error stored on a trial failed by the system (lease lost, timeout, process ended)."""
    if retry_number is not None:
        return f"{reason}; re-queued as trial #{retry_number}"
    return f"{reason}; gave up after {attempt + 1} attempt(s)"


class StepValueError(ValueError):
    """A ``ctx.step`` report is malformed: a step going backwards, a missing objective."""


def check_step(number: int, step: int, last: int | None, values: dict[str, float],
               objectives: Sequence[str]) -> dict[str, float]:
    """The report's values as floats, after checking it: ``step`` is an integer >= 0 after
    the trial's ``last`` stored step, and ``values`` holds every objective, finite."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise StepValueError(f"trial #{number}: step {step!r} is not an integer >= 0 (report epochs 1, 2, ...)")
    if last is not None and step <= last:
        raise StepValueError(f"trial #{number}: step {step} goes backwards (step {last} is already stored); "
                             "report steps in increasing order")
    missing = [o for o in objectives if o not in values]
    if missing:
        raise StepValueError(f"trial #{number} step {step}: values miss objective(s) {missing} "
                             f"(got {sorted(values)}); report every objective at every step")
    out = dict(values)
    for o in objectives:
        try:
            v = float(values[o])
        except (TypeError, ValueError):
            raise StepValueError(f"trial #{number} step {step}: {o}={values[o]!r} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise StepValueError(f"trial #{number} step {step}: {o}={v} is not finite")
        out[o] = v
    return out
