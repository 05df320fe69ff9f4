"""The Ray executor's driver loop: keep ``workers`` trials in flight as Ray tasks.

The driver asks the study for the next trial as soon as one finishes (asynchronous, no
lock-step batches). A task gets the storage URL, the study name and the trial id; in the
worker it takes the trial over, beats the heartbeat, evaluates and tells
(:mod:`nas.worker`), so a result survives the driver's death. The loop also reports the
trials the warm-start processes finish while they still work, re-queues the trials of
workers that died, and ends trials that run past ``trial_timeout_s``.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayError, RayTaskError

from nas import _workers
from nas.executors.base import WORKER_MODULE, Reporter, absolute_url, import_paths
from storage import Trial, TrialStateError

if TYPE_CHECKING:
    from nas.executors._warm import WarmPool
    from nas.executors.ray import RayExecutor
    from nas.study import Study

log = logging.getLogger(__name__)

REAP_EVERY_S = 10.0


def remote_trial(url: str, study_name: str, trial_id: int, paths: list[str], study_id: int) -> Trial | None:
    """The body of a trial's Ray task: :func:`nas.worker.run_trial`, imported by name in the
    worker (the worker module loads studies; the executors stay below it)."""
    return importlib.import_module(WORKER_MODULE).run_trial(url, study_name, trial_id, paths, study_id)


_run_trial_task = ray.remote(max_retries=0)(remote_trial)


class Driver:
    """The driver loop of one :meth:`RayExecutor.run`."""

    def __init__(self, study: Study, ex: RayExecutor, report: Reporter, warm: WarmPool | None) -> None:
        self.study, self.ex, self.report, self.warm = study, ex, report, warm
        self.wid = _workers.worker_id()
        self.url = absolute_url(study.store.url)
        self.paths = import_paths()
        opts: dict[str, Any] = {"num_cpus": ex.cpus_per_trial, "max_retries": 0, **ex.options}
        if ex.gpus_per_trial:
            opts["num_gpus"] = ex.gpus_per_trial
        self.task = _run_trial_task.options(**opts)
        self.inflight: dict[ray.ObjectRef, int] = {}
        self.resubmits: dict[int, int] = {}
        self.timeout_s = study.spec.trial_timeout_s
        self.began: dict[int, float] = {}  # trial id -> when a worker was seen holding it

    def run(self) -> None:
        next_reap = time.monotonic() + REAP_EVERY_S
        while True:
            warming = self._drain_warm()
            self._fill(warming)
            if self.inflight:
                timeout = 0.05 if warming else self.ex.poll_s
                ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=timeout)
                for ref in ready:
                    self._collect(ref)
            elif warming:
                self.warm.join(self.ex.poll_s)  # type: ignore[union-attr]
            elif self.study.done():
                return
            else:  # the rest of the budget runs elsewhere (another driver, a worker left over)
                time.sleep(self.ex.poll_s)
                next_reap = 0.0
            if self.timeout_s is not None:
                self._end_overdue()
            if time.monotonic() >= next_reap:
                self._reap()
                next_reap = time.monotonic() + REAP_EVERY_S

    def _end_overdue(self) -> None:
        """Cancel (killing its worker process) each task whose trial ran past the timeout.

        A trial's clock starts when the driver first sees a worker holding it, so time
        queued in Ray does not count."""
        now = time.monotonic()
        for ref, tid in list(self.inflight.items()):
            if tid not in self.began:
                if self.study.store.get_trial(tid).worker_id != self.wid:
                    self.began[tid] = now
                continue
            if now - self.began[tid] < self.timeout_s:  # type: ignore[operator]
                continue
            del self.inflight[ref]
            ray.cancel(ref, force=True)
            reason = f"timed out after {self.timeout_s:g} s (trial_timeout_s); its worker process was ended"
            failed, _ = self.study.store.fail_and_requeue(tid, reason, self.study.spec.max_retries)
            self.report(failed)

    def _drain_warm(self) -> bool:
        """Report the warm-start processes' finished trials; True while one still evaluates."""
        if self.warm is None:
            return False
        busy = self.warm.busy()
        self.warm.report_finished(self.report)
        if not busy:
            if self.warm.lost:
                self._reap()  # it died with a trial: re-queue it
            self.warm = None
        return busy

    def _fill(self, warming: bool = False) -> None:
        free = self.ex.workers - len(self.inflight) - (self.warm.busy_count() if warming and self.warm else 0)
        if free > 0:
            for t in self.study.ask(free, worker_id=self.wid):
                self._submit(t.id)

    def _submit(self, trial_id: int) -> None:
        ref = self.task.remote(self.url, self.study.name, trial_id, self.paths, self.study.id)
        self.inflight[ref] = trial_id

    def _collect(self, ref: ray.ObjectRef) -> None:
        tid = self.inflight.pop(ref)
        self.began.pop(tid, None)
        try:
            out = ray.get(ref)
        except RayTaskError as e:  # our task code failed around the evaluation (e.g. the database)
            out = self._fail(tid, f"the Ray task failed: {e}")
        except RayError as e:  # the worker process died: crash, OOM kill, lost node
            self._recover(tid, e)
            return
        if out is not None:
            self.report(out)

    def _fail(self, tid: int, error: str) -> Trial | None:
        try:
            return self.study.store.fail_trial(tid, error[-4000:])
        except TrialStateError:
            return self.study.store.get_trial(tid)

    def _recover(self, tid: int, err: RayError) -> None:
        t = self.study.store.get_trial(tid)
        log.warning("worker of trial #%s died: %s", t.number, str(err).splitlines()[0] if str(err) else err)
        if t.state.is_finished():  # it wrote its result, then died; or a reap got there first
            self.report(t)
            return
        if t.worker_id == self.wid:  # died before it took the trial over: hand it out again
            n = self.resubmits[tid] = self.resubmits.get(tid, 0) + 1
            if n <= max(1, self.study.spec.max_retries):
                self._submit(tid)
            else:
                self.report(self._fail(tid, f"no Ray worker could start trial #{t.number}: {err}"))
            return
        dead = t.worker_id
        self._reap(lambda w: w == dead or _workers.is_dead(w))

    def _reap(self, is_dead: Callable[[str | None], bool] = _workers.is_dead) -> None:
        spec = self.study.spec
        for tid in self.inflight.values():  # a task still queued in Ray keeps its lease
            self.study.store.heartbeat(tid)
        for failed, retry in self.study.store.reap(self.study.id, spec.lease.grace_s, is_dead, spec.max_retries):
            if retry is None:
                self.report(failed)
            else:
                self.report.settled.add(failed.id)
                log.warning("trial #%s lost its worker; re-queued as #%s", failed.number, retry.number)
