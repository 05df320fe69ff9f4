"""Ray executor: every trial is a Ray core task that evaluates it and writes its own result.

The driver owns the optimizer and the budget. It keeps ``workers`` tasks in flight and
asks the study for the next trial as soon as one finishes (asynchronous, no lock-step
batches). A task gets the storage URL, the study name and the trial id; in the worker it
takes the trial over (``start_trial`` with the worker's own id, so liveness follows the
process that evaluates), beats the heartbeat, evaluates and tells. A result therefore
survives the driver's death.

Failures:

- the evaluation raises, returns NaN or misses an objective: the worker records FAILED
  with the message and the traceback summary (:mod:`nas.runner`);
- the worker process dies (``os._exit``, an OOM kill, a lost node): Ray reports it, and the
  driver fails the trial and re-queues its params at once, up to ``max_retries``;
- the driver dies: finished results are in the store; ``nas resume`` re-queues the trials
  whose workers died with it and runs to the exact budget.

With no address a local Ray sized to the machine is started (and shut down at the end,
with a watchdog that clears its processes even if the driver is killed); ``auto`` or
``host:port`` joins a cluster (checked first by :mod:`nas.executors.address`). While a
local Ray boots (a few seconds), plain subprocesses already evaluate trials the same way
(``warm_start``, :mod:`nas.executors._warm`): as many as there are workers, started before
Ray so they import before its start-up burst, each holding a worker slot until it
finishes its trial.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayError, RayTaskError

from nas import _workers
from nas.executors._trial_task import run_trial
from nas.executors._warm import WarmPool
from nas.executors.base import Executor, ProgressFn, absolute_url, import_paths
from nas.executors.ray_session import RaySession, prewarm_workers, ray_session, start_ray, stop_ray
from storage import Trial, TrialStateError

if TYPE_CHECKING:
    from nas.study import Study

log = logging.getLogger(__name__)

REAP_EVERY_S = 10.0
WARM_READY_WAIT_S = 10.0


class RayExecutorError(RuntimeError):
    """The Ray executor cannot run as configured (e.g. the cluster lacks the resources)."""


# ---- the executor ------------------------------------------------------------------------


@dataclass
class RayExecutor(Executor):
    """Run trials as Ray tasks, ``workers`` at a time, each with the given resources.

    ``options`` go to the task's ``.options(...)`` (e.g. ``scheduling_strategy``);
    ``init`` to ``ray.init`` when this executor connects.
    """

    workers: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    poll_s: float = 1.0
    warm_start: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise RayExecutorError(f"workers={self.workers}: run at least one worker")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise RayExecutorError(
                f"cpus_per_trial={self.cpus_per_trial:g}, gpus_per_trial={self.gpus_per_trial:g}: "
                "CPUs must be > 0 and GPUs >= 0"
            )

    @classmethod
    def from_spec(cls, spec: Any, **overrides: Any) -> RayExecutor:
        """From an ``ExecutorSpec``; ``overrides`` (workers=, address=, ...) win over it."""
        fields = {
            "workers": spec.workers,
            "cpus_per_trial": spec.cpus_per_trial,
            "gpus_per_trial": spec.gpus_per_trial,
            "address": spec.address,
        }
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**fields)

    def run(self, study: Study, progress: ProgressFn | None = None) -> None:
        if study.done():  # nothing to run: no need to start Ray
            return
        local = not self.address and not ray.is_initialized()
        warm = None
        if local and self.warm_start and not self.gpus_per_trial:
            warm = WarmPool(study, self.workers)  # evaluates trials while the local Ray boots
            warm.start()
            # Its processes import before Ray's start-up burst takes the CPUs: trials begin sooner.
            warm.wait_ready(WARM_READY_WAIT_S)
        local_cpus = max(os.cpu_count() or 1, math.ceil(self.workers * self.cpus_per_trial))
        try:
            with ray_session(self.address, num_cpus=local_cpus if local else None, **self.init):
                if warm is not None:  # the warm pool works on while Ray's workers boot
                    with suppress(Exception):  # only a speed-up: trials still run on cold workers
                        prewarm_workers(self.workers, hold_s=0.0, give_up=lambda: not warm.busy())
                    warm.stop()
                self._check_resources()
                _Driver(study, self, progress, warm).run()
        finally:
            if warm is not None:
                warm.stop()

    def _check_resources(self) -> None:
        have = ray.cluster_resources()
        for what, need in (("CPU", self.cpus_per_trial), ("GPU", self.gpus_per_trial)):
            if need > have.get(what, 0.0):
                raise RayExecutorError(
                    f"each trial asks for {need:g} {what}(s) but the Ray cluster has {have.get(what, 0.0):g}: "
                    f"lower executor.{what.lower()}s_per_trial or join a bigger cluster with --address"
                )


class _Driver:
    """The driver loop of one :meth:`RayExecutor.run`."""

    def __init__(self, study: Study, ex: RayExecutor, progress: ProgressFn | None, warm: WarmPool | None) -> None:
        self.study, self.ex, self.progress, self.warm = study, ex, progress, warm
        self.wid = _workers.worker_id()
        self.url = absolute_url(study.store.url)
        self.paths = import_paths()
        opts: dict[str, Any] = {"num_cpus": ex.cpus_per_trial, "max_retries": 0, **ex.options}
        if ex.gpus_per_trial:
            opts["num_gpus"] = ex.gpus_per_trial
        self.task = _run_trial_task.options(**opts)
        self.inflight: dict[ray.ObjectRef, int] = {}
        self.resubmits: dict[int, int] = {}
        self.settled: set[int] = set()
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
            self._report(failed)

    def _drain_warm(self) -> bool:
        """Report the warm-start processes' finished trials; True while one still evaluates."""
        if self.warm is None:
            return False
        busy = self.warm.busy()
        for tid in self.warm.take_finished():
            self._report(self.study.store.get_trial(tid))
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
            self._report(out)

    def _fail(self, tid: int, error: str) -> Trial | None:
        try:
            return self.study.store.fail_trial(tid, error[-4000:])
        except TrialStateError:
            return self.study.store.get_trial(tid)

    def _recover(self, tid: int, err: RayError) -> None:
        t = self.study.store.get_trial(tid)
        log.warning("worker of trial #%s died: %s", t.number, str(err).splitlines()[0] if str(err) else err)
        if t.state.is_finished():  # it wrote its result, then died; or a reap got there first
            self._report(t)
            return
        if t.worker_id == self.wid:  # died before it took the trial over: hand it out again
            n = self.resubmits[tid] = self.resubmits.get(tid, 0) + 1
            if n <= max(1, self.study.spec.max_retries):
                self._submit(tid)
            else:
                self._report(self._fail(tid, f"no Ray worker could start trial #{t.number}: {err}"))
            return
        dead = t.worker_id
        self._reap(lambda w: w == dead or _workers.is_dead(w))

    def _reap(self, is_dead: Callable[[str | None], bool] = _workers.is_dead) -> None:
        spec = self.study.spec
        for tid in self.inflight.values():  # a task still queued in Ray keeps its lease
            self.study.store.heartbeat(tid)
        for failed, retry in self.study.store.reap(self.study.id, spec.lease.grace_s, is_dead, spec.max_retries):
            if retry is None:
                self._report(failed)
            else:
                self.settled.add(failed.id)
                log.warning("trial #%s lost its worker; re-queued as #%s", failed.number, retry.number)

    def _report(self, t: Trial | None) -> None:
        if t is None or t.id in self.settled or not t.state.is_finished():
            return
        self.settled.add(t.id)
        if self.progress is not None:
            self.progress(self.study, t)


# ---- the worker side -------------------------------------------------------------------

_run_trial_task = ray.remote(max_retries=0)(run_trial)


__all__ = ["RayExecutor", "RayExecutorError", "RaySession", "ray_session", "run_trial", "start_ray", "stop_ray"]
