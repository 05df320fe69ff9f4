"""Evaluate one trial: heartbeat while it runs, record the result or the failure.

Every executor calls :func:`evaluate_trial`, in-process or inside a Ray worker, so a
worker writes its own result and a result survives the driver's death.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from search_spaces.base import EvalContext
from storage import Store, Trial, TrialStateError

if TYPE_CHECKING:
    from nas.study import Study
    from storage.store import StepPromoter

log = logging.getLogger(__name__)


@contextmanager
def heartbeat(store: Store, trial_id: int, interval_s: float) -> Iterator[None]:
    """Beat ``trial_id``'s heartbeat every ``interval_s`` seconds in a daemon thread."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval_s):
            try:
                if not store.heartbeat(trial_id):
                    return
            except Exception as e:  # a flaky database must not kill the evaluation
                log.warning("heartbeat of trial id %s failed: %s", trial_id, e)

    t = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=interval_s + 1)


def error_summary(exc: BaseException, limit: int = 12) -> str:
    """The exception line plus the last frames of its traceback."""
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-limit)
    return "".join(tb).strip()[-4000:]


class StepReporter:
    """The ``on_step`` of a trial's :class:`EvalContext`: stores each report with the
    scheduler's decision (:meth:`storage.Store.add_step`) and remembers a stop. After a
    stop, further reports are not stored and answer False again."""

    def __init__(self, study: Study, trial: Trial) -> None:
        self.store, self.trial_id = study.store, trial.id
        scheduler = study.scheduler
        self.decide = scheduler.decide if scheduler is not None else None
        self.promote = scheduler.promotable if scheduler is not None and scheduler.promotes else None
        self.stopped = False

    def __call__(self, step: int, values: dict[str, float]) -> bool:
        if not self.stopped:
            self.stopped = not self.store.add_step(self.trial_id, step, dict(values), self.decide, self.promote)
        return not self.stopped


def evaluate_trial(study: Study, trial: Trial) -> Trial:
    """Evaluate ``trial`` with the study's space and tell the study the outcome: COMPLETE
    with the returned values, FAILED with the error, or STOPPED with the last step's values
    when the scheduler stopped it (whatever the evaluator returned then)."""
    steps = StepReporter(study, trial)
    ctx = EvalContext(trial_number=trial.number, seed=study.spec.optimizer.seed, on_step=steps)
    t0 = time.perf_counter()
    with heartbeat(study.store, trial.id, study.spec.lease.heartbeat_s):
        try:
            ev = study.space.evaluate(trial.params, ctx)
            if steps.stopped:
                metrics = {**_plain(ev.metrics), "eval_s": time.perf_counter() - t0}
                return _stop_safely(study, trial, metrics, steps.promote)
            wanted = {o.name for o in study.objectives}
            values = study._check_values({k: v for k, v in ev.values.items() if k in wanted})
            # a space may report more objectives than the study optimizes: keep them as metrics
            ev.metrics.update({k: v for k, v in ev.values.items() if k not in wanted})
        except Exception as e:
            spent = {"eval_s": time.perf_counter() - t0}
            return _tell_safely(study, trial, error=error_summary(e), metrics=spent)
    metrics = {**ev.metrics, "eval_s": time.perf_counter() - t0}
    if ev.artifacts:
        metrics["artifacts"] = ev.artifacts
    return _tell_safely(study, trial, values=values, metrics=metrics)


def _plain(metrics: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in metrics.items() if k != "artifacts"}


def _stop_safely(study: Study, trial: Trial, metrics: dict[str, object], promote: StepPromoter | None) -> Trial:
    try:
        return study.store.stop_trial(trial.id, metrics, promote)
    except TrialStateError as e:
        log.warning("stop of trial #%s not recorded: %s", trial.number, e)
        return study.store.get_trial(trial.id)


def _tell_safely(study: Study, trial: Trial, **kwargs: object) -> Trial:
    try:
        return study.tell(trial, **kwargs)  # type: ignore[arg-type]
    except TrialStateError as e:
        # The lease expired while we evaluated: a retry owns these params now.
        log.warning("result of trial #%s discarded: %s", trial.number, e)
        return study.store.get_trial(trial.id)
