"""Studies running in the background of the server, on one shared Ray runtime.

Each run is a thread that drives ``Study.optimize`` with the spec's executor: ``ray``
studies submit their trials as tasks to the server's one Ray runtime (started, or joined,
once at start-up), ``local`` studies evaluate in the thread. Ray queues the tasks of all
studies in one FIFO per resource shape, and each study keeps at most its ``workers``
tasks in flight, so concurrent studies take turns on the workers.

Stopping is graceful: the study hands out no new trial and the running ones finish.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nas.spec import parse_spec
from nas.study import Study
from storage import Store, Trial

log = logging.getLogger(__name__)


class RunConflictError(RuntimeError):
    """The study is already running on this server (or is not running, for stop)."""


class RayUnavailableError(RuntimeError):
    """The server has no Ray runtime (``--no-ray``) or it failed to start."""


class RayRuntime:
    """One Ray runtime for the server's lifetime, started in the background at start-up.

    The thread that starts Ray stays alive until :meth:`stop` and shuts Ray down itself:
    Ray ties its GCS and raylet to the *thread* that spawned them (Linux's parent-death
    signal), so they would die with a short-lived starter thread.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address, self.num_cpus = address, num_cpus
        self.error: str | None = None
        self._ready = threading.Event()
        self._warm = threading.Event()  # workers pre-started (or that failed: only a speed-up)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hold, name="nas-ray", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _hold(self) -> None:
        try:
            from nas.executors.ray_session import start_ray, stop_ray

            session = start_ray(self.address, num_cpus=self.num_cpus)
        except Exception as e:  # reported to every study that needs Ray
            self.error = f"Ray did not start: {type(e).__name__}: {e}"
            log.error(self.error)
            return
        finally:
            self._ready.set()
        try:
            import ray

            from nas.executors.ray_session import prewarm_workers

            prewarm_workers(int(ray.cluster_resources().get("CPU", 1)))
        except Exception as e:  # only a speed-up: studies still run on cold workers
            log.warning("could not pre-start Ray workers: %s", e)
        self._warm.set()
        self._stop.wait()
        stop_ray(session)

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.error is None

    @property
    def warm(self) -> bool:
        return self.ready and self._warm.is_set()

    def wait(self, timeout: float | None = None) -> None:
        if not self._ready.wait(timeout):
            raise RayUnavailableError(f"Ray did not start within {timeout:g} s")
        if self.error:
            raise RayUnavailableError(self.error)

    def cpus(self) -> float | None:
        """The runtime's CPUs once it is up, else None."""
        if not self.ready:
            return None
        import ray

        return float(ray.cluster_resources().get("CPU", 0.0))

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the runtime down (waits up to ``timeout``); one still starting is left to the
        watchdog that ``start_ray`` attached, which clears a local Ray once this process exits."""
        self._stop.set()
        if self._ready.is_set() and self._thread.is_alive():
            self._thread.join(timeout)


class _ServerStudy(Study):
    """A study that stops handing out trials once ``stop`` is set (the executors end then)."""

    def __init__(self, study: Study, stop: threading.Event) -> None:
        super().__init__(study.store, study._info, study.spec)
        self._stop = stop

    def ask(self, n: int = 1, **kwargs: Any) -> list[Trial]:
        return [] if self._stop.is_set() else super().ask(n, **kwargs)

    def done(self) -> bool:
        return self._stop.is_set() or super().done()


def open_study(store: Store, name: str) -> Study:
    """Load a stored study over an existing store (like ``load_study``, without a new engine)."""
    info = store.get_study(name)
    spec = parse_spec(json.loads(info.spec_json))
    spec.budget.trials = info.budget
    return Study(store, info, spec)


@dataclass
class Run:
    name: str
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.time)
    error: str | None = None
    finished: bool = False
    thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return not self.finished


class Runner:
    """The server's background runs, one per study name at most."""

    def __init__(self, store: Store, runtime: RayRuntime | None, on_trial: Callable[[str], None]) -> None:
        self.store, self.runtime, self.on_trial = store, runtime, on_trial
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Run | None:
        return self._runs.get(name)

    def is_running(self, name: str) -> bool:
        run = self._runs.get(name)
        return run is not None and run.alive

    def start(self, name: str) -> Run:
        with self._lock:
            if self.is_running(name):
                raise RunConflictError(f"study {name!r} is already running on this server")
            run = self._runs[name] = Run(name)
            run.thread = threading.Thread(target=self._drive, args=(run,), name=f"nas-study-{name}", daemon=True)
            run.thread.start()
            return run

    def stop(self, name: str) -> Run:
        run = self._runs.get(name)
        if run is None or not run.alive:
            raise RunConflictError(f"study {name!r} is not running on this server")
        run.stop.set()
        return run

    def shutdown(self, timeout: float = 10.0) -> None:
        runs = list(self._runs.values())
        for r in runs:
            r.stop.set()
        end = time.monotonic() + timeout
        for r in runs:
            if r.thread is not None:
                r.thread.join(max(0.0, end - time.monotonic()))

    def _drive(self, run: Run) -> None:
        try:
            study = _ServerStudy(open_study(self.store, run.name), run.stop)
            study.optimize(executor=self._executor(study), progress=self._progress)
        except Exception as e:  # shown as the study's error; the server keeps serving
            log.exception("study %s stopped with an error", run.name)
            run.error = f"{type(e).__name__}: {e}"
        finally:
            run.finished = True
            self.on_trial(run.name)

    def _executor(self, study: Study) -> Any:
        from nas.executors import make_executor

        if study.spec.executor.name != "ray":
            return make_executor(study.spec.executor)
        if self.runtime is None:
            raise RayUnavailableError("this server runs without Ray (--no-ray): submit executor {name: local}")
        self.runtime.wait(timeout=300)
        # The server's Ray is already initialised: the executor reuses it and leaves it up.
        return make_executor(study.spec.executor)

    def _progress(self, study: Study, trial: Trial) -> None:
        self.on_trial(study.name)
