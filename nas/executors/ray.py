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
local Ray boots (seconds, more on a busy machine), plain subprocesses already evaluate
trials the same way (``warm_start``, :mod:`nas.executors._warm`): as many as there are
workers, each holding a worker slot until it finishes its trial. Ray boots in the
background on idle CPU only (:mod:`nas.executors._ray_boot`); once it is up, new trials go
to Ray tasks; a study the warm processes finish first ends without waiting for Ray.

The pieces: the session (:mod:`nas.executors.ray_session`), its background boot
(:mod:`nas.executors._ray_boot`), the warm pool (:mod:`nas.executors._warm`) and the driver
loop (:mod:`nas.executors._ray_driver`); this module configures and sequences them and
imports Ray only once a run needs it.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.executors._ray_boot import RayBoot
from nas.executors._warm import WarmPool
from nas.executors.base import Executor, ProgressFn, Reporter

if TYPE_CHECKING:
    from nas.study import Study


class RayExecutorError(RuntimeError):
    """The Ray executor cannot run as configured (e.g. the cluster lacks the resources)."""


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
        report = Reporter(study, progress)
        ray_mod = sys.modules.get("ray")
        local = not self.address and not (ray_mod is not None and ray_mod.is_initialized())
        if local and self.warm_start and not self.gpus_per_trial:
            self._run_warm(study, report)
            return
        from nas.executors.ray_session import ray_session

        with ray_session(self.address, num_cpus=self._local_cpus() if local else None, **self.init):
            self._drive(study, report, None)

    def _run_warm(self, study: Study, report: Reporter) -> None:
        """Warm processes run trials while a local Ray boots on idle CPU, then Ray takes over;
        a study the warm processes finish first ends without waiting for Ray."""
        warm = WarmPool(study, self.workers)
        warm.start()
        boot = RayBoot(num_cpus=self._local_cpus(), **self.init).start()
        try:
            while warm.busy() and not boot.up():
                warm.report_finished(report)
                warm.join(0.05)
            warm.report_finished(report)
            if not boot.up() and not warm.busy() and study.done():
                return
            boot.wait()
            from nas.executors.ray_session import prewarm_workers

            with suppress(Exception):  # only a speed-up: trials still run on cold workers
                prewarm_workers(self.workers, hold_s=0.0, give_up=lambda: not warm.busy())
            warm.stop()
            self._drive(study, report, warm)
        except BaseException:  # interrupted or failed: end the warm evaluations now, not after them
            warm.kill()
            raise
        finally:
            warm.stop()
            boot.close()

    def _drive(self, study: Study, report: Reporter, warm: WarmPool | None) -> None:
        from nas.executors._ray_driver import Driver

        self._check_resources()
        Driver(study, self, report, warm).run()

    def _local_cpus(self) -> int:
        return max(os.cpu_count() or 1, math.ceil(self.workers * self.cpus_per_trial))

    def _check_resources(self) -> None:
        import ray

        have = ray.cluster_resources()
        for what, need in (("CPU", self.cpus_per_trial), ("GPU", self.gpus_per_trial)):
            if need > have.get(what, 0.0):
                raise RayExecutorError(
                    f"each trial asks for {need:g} {what}(s) but the Ray cluster has {have.get(what, 0.0):g}: "
                    f"lower executor.{what.lower()}s_per_trial or join a bigger cluster with --address"
                )


__all__ = ["RayExecutor", "RayExecutorError"]
