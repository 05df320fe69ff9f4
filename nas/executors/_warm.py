"""The warm start of the Ray executor: plain worker processes that evaluate trials while
a local Ray boots, so no worker slot idles during Ray's start-up (seconds, more under load).

The Ray driver starts a :class:`WarmPool` of as many processes as the spec's workers, stops
handing them trials once Ray is up, and counts each process still busy as a taken slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from nas.executors._process import TrialProcess
from nas.executors.base import absolute_url, import_paths

if TYPE_CHECKING:
    from nas.study import Study
    from storage import Trial

log = logging.getLogger(__name__)


class WarmPool:
    """Evaluate trials in ``size`` plain subprocesses while a local Ray starts (seconds).

    Each process takes its trial over and writes the result like a Ray worker does; it
    gets new trials only until :meth:`stop` (Ray is up), then finishes the one it holds
    and exits. Each holds one of the executor's worker slots meanwhile.
    """

    def __init__(self, study: Study, size: int = 1) -> None:
        self.study = study
        self.url, self.name, self.study_id = absolute_url(study.store.url), study.name, study.id
        self.handed_out = study.handed_out  # shared: an interrupt releases the warm start's trial too
        self.lost = False
        self._stop = threading.Event()
        self._killed = threading.Event()  # an interrupt ended the evaluations: their trials are released
        self._ready = threading.Semaphore(0)  # one release per process up (or failed to start)
        self._finished: list[int] = []
        self._children: list[TrialProcess] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, name=f"nas-warm-start-{i}", daemon=True) for i in range(size)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def wait_ready(self, timeout: float) -> int:
        """Wait until every process has started (or failed to), at most ``timeout`` s; how many did."""
        deadline, n = time.monotonic() + timeout, 0
        while n < len(self._threads) and self._ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
            n += 1
        return n

    def stop(self) -> None:
        self._stop.set()

    def kill(self) -> None:
        """Stop, and end the processes' evaluations now (an interrupt: their trials are released)."""
        self._killed.set()
        self.stop()
        with self._lock:
            children = list(self._children)
        for child in children:
            child.kill()

    def busy(self) -> bool:
        return self.busy_count() > 0

    def busy_count(self) -> int:
        """Processes still evaluating (each holds a worker slot)."""
        return sum(t.is_alive() for t in self._threads)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def report_finished(self, report: Callable[[Trial], None]) -> None:
        """Hand the trials finished since the last call to ``report`` (from the driver's thread)."""
        for tid in self.take_finished():
            report(self.study.store.get_trial(tid))

    def take_finished(self) -> list[int]:
        with self._lock:
            out, self._finished = self._finished, []
        return out

    def _loop(self) -> None:
        try:
            child = TrialProcess(self.url, self.name, self.study_id, import_paths())
            with self._lock:
                self._children.append(child)
        finally:
            self._ready.release()
        try:
            if not child.ready:
                return
            study = self.study.reopen()  # its own: the driver's is not shared across threads
            while not self._stop.is_set():
                trials = study.ask(1)
                if not trials:
                    return
                self.handed_out.add(trials[0].id)
                out = child.evaluate(trials[0].id, trials[0].number, study.spec.trial_timeout_s)
                if not out.done and self._killed.is_set():
                    return  # not the trial's failure: the driver hands it back to the queue
                if not out.done:
                    study.store.fail_and_requeue(trials[0].id, out.error, study.spec.max_retries)
                with self._lock:
                    self._finished.append(trials[0].id)
                if not out.done:
                    return  # the child is gone; Ray takes over
        except Exception as e:  # never let the warm start break the run: Ray takes over
            log.warning("warm start stopped: %s", e)
            self.lost = True
        finally:
            child.close()
