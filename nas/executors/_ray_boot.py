"""Start a local Ray in the background, on idle CPU only, while warm processes run trials.

Linux gives each thread its own niceness, and a process inherits the niceness of the
thread that started it. :class:`RayBoot` calls ``ray.init`` from a thread at niceness
:data:`BOOT_NICE`, so Ray's GCS, raylet, agents and (through the raylet) workers all run
at that niceness: on a machine the warm-start processes keep busy, Ray boots on what CPU
they leave and takes no time from trials; on an idle machine it boots as fast as before.
The thread also switches to ``SCHED_IDLE`` (Linux), inherited the same way: niceness 19
still weighs 15 against a trial's 1024. What that saves was not separable from run-to-run
noise (``benchmarks/executor.py --parts whole``: 1.19x the plain pool with and without it;
README, "Running on Ray").
Ray's raylet must register within 30 s of its start; where the trials leave too little CPU
for that, the start is tried again, still niced, while the warm processes carry the study,
so a study that keeps every core busy may run wholly in the warm processes.

The thread stays alive until Ray is shut down: Ray ties its processes to the thread that
started them (``PR_SET_PDEATHSIG`` fires when that *thread* ends). A boot that is no longer
needed (the warm processes finished the study first) is not waited for: it shuts its Ray
down once it is up, and a process that exits before then has its Ray processes cleared by
the session's watchdog (:mod:`nas.executors._reaper`).

This module imports no Ray: the boot thread does, so the driver's own start is not delayed.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.executors.ray_session import RaySession

#: Niceness of the boot thread, hence of every process of the local Ray it starts.
BOOT_NICE = 19

log = logging.getLogger(__name__)

_ABANDONED: list[RayBoot] = []  # boots left to shut their Ray down once up
_ABANDONED_LOCK = threading.Lock()


def join_abandoned(timeout_s: float = 120.0) -> None:
    """Wait for boots left behind by earlier runs to shut their Ray down (before a new Ray)."""
    with _ABANDONED_LOCK:
        left = list(_ABANDONED)
    for boot in left:
        boot.join(timeout_s)


def _no_sigterm_warning(record: logging.LogRecord) -> bool:
    """Ray warns that only the main thread can install its SIGTERM handler; ours (the CLI's) stays."""
    return "SIGTERM handler" not in record.getMessage()


def _starved(error: BaseException | None) -> bool:
    """Whether ``ray.init`` failed for want of CPU: its node did not come up in time."""
    return error is not None and "timed out during startup" in str(error)


class RayBoot:
    """``start_ray(**kwargs)`` in a thread at niceness ``nice``; see the module docstring."""

    def __init__(self, nice: int = BOOT_NICE, idle: bool = True, **kwargs: Any) -> None:
        self.nice, self.idle, self.kwargs = nice, idle, kwargs
        self.session: RaySession | None = None
        self.error: BaseException | None = None
        self._up = threading.Event()
        self._release = threading.Event()
        self._abandoned = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="nas-ray-boot", daemon=True)
        self._attempts: list[threading.Thread] = []

    def start(self) -> RayBoot:
        self._thread.start()  # its attempt's start_ray first waits for boots abandoned before
        return self

    def join(self, timeout_s: float) -> None:
        """Wait for the boot to end (an abandoned one: to shut its Ray down); never on oneself."""
        me = threading.current_thread()
        if self._thread.ident is not None and me is not self._thread and me not in self._attempts:
            self._thread.join(timeout_s)

    def up(self) -> bool:
        """True once the boot has ended, with Ray up or with an error (:meth:`wait` raises it)."""
        return self._up.is_set()

    def wait(self, timeout_s: float | None = None) -> RaySession:
        """Wait for Ray to be up; raises what ``ray.init`` raised."""
        if not self._up.wait(timeout_s):
            raise TimeoutError(f"the local Ray did not start within {timeout_s:g} s")
        if self.error is not None:
            raise self.error
        assert self.session is not None
        return self.session

    def close(self) -> None:
        """Shut Ray down; if it is still booting, leave the boot to do that once it is up."""
        with self._lock:
            if not self._up.is_set():
                self._abandoned = True
                with _ABANDONED_LOCK:
                    _ABANDONED.append(self)
                return
        try:
            self._stop_ray()
        finally:
            self._release.set()  # the thread may end: Ray's processes are gone

    def _run(self) -> None:
        """The boot's supervisor. Ray's raylet must register within 30 s of its start, which
        a machine the trials keep busy may not give a niced boot: such a start is tried
        again, still niced, until it succeeds or the run no longer needs Ray (the warm
        processes carry the study meanwhile). Any other failure ends the boot."""
        warned = False
        while True:
            done = threading.Event()
            attempt = threading.Thread(target=self._attempt, args=(done,), daemon=True, name="nas-ray-boot-attempt")
            self._attempts.append(attempt)
            attempt.start()
            done.wait()
            with self._lock:
                retry = self.session is None and not self._abandoned and _starved(self.error)
                if not retry:
                    self._up.set()
                    abandoned = self._abandoned
                    break
            attempt.join()  # the processes of the failed start end with its thread
            if not warned:
                log.info("the local Ray could not start beside the running trials (%s); "
                         "trying again on idle CPU while the warm processes go on", self.error)
                warned = True
        if abandoned:
            self._shut_down_abandoned()

    def _attempt(self, done: threading.Event) -> None:
        """``start_ray`` in this thread at :attr:`nice`; holds the thread while Ray is up."""
        with suppress(OSError):  # only a speed-up: a system that refuses boots at full priority
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, max(self.nice, os.getpriority(os.PRIO_PROCESS, me)))
        if self.idle:
            with suppress(OSError, AttributeError):  # Linux only; niceness alone elsewhere
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        try:
            with self._lock:
                if self._abandoned:  # no longer needed before it began
                    done.set()
                    return
            from nas.executors.ray_session import start_ray

            logging.getLogger("ray._private.worker").addFilter(_no_sigterm_warning)  # once: same object
            self.session, self.error = start_ray(**self.kwargs), None
        except BaseException as e:  # handed to wait(), or to the next attempt
            self.error = e
        done.set()
        if self.session is not None:
            self._release.wait()  # Ray's processes end with this thread: keep it until Ray is shut down

    def _stop_ray(self) -> None:
        if self.session is not None:
            from nas.executors.ray_session import stop_ray

            stop_ray(self.session)

    def _shut_down_abandoned(self) -> None:
        try:
            with suppress(Exception):  # nobody is left to hear of it; the watchdog clears the rest
                self._stop_ray()
        finally:
            self._release.set()
            with _ABANDONED_LOCK:
                _ABANDONED.remove(self)
