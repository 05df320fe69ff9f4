"""Ray sessions: start a local Ray (lean, with a watchdog) or join a cluster, and stop it.

A local Ray gets :data:`LOCAL_RAY` settings (no dashboard, a small object store) and a
watchdog process that clears Ray's processes when the driver exits, even by SIGKILL.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import ray

#: Settings that keep a local Ray quick to start and light on a small machine.
LOCAL_RAY: dict[str, Any] = {
    "include_dashboard": False,
    "object_store_memory": 128 * 1024**2,
    "log_to_driver": False,
    "logging_level": logging.WARNING,
}

@dataclass
class RaySession:
    """A connection to Ray; ``started`` when this process started a local Ray for it."""

    address: str | None
    started: bool
    owned: bool
    reaper: subprocess.Popen[bytes] | None = None


def start_ray(address: str | None = None, *, num_cpus: int | None = None, **kwargs: Any) -> RaySession:
    """Connect to Ray: join ``address`` (``auto``, ``host:port``) or start a local one.

    Reuses a connection this process already holds (and will not shut it down). A local
    Ray gets :data:`LOCAL_RAY` settings, ``num_cpus`` (default: the machine's cores) and a
    watchdog that kills its processes when this process exits, even by SIGKILL.
    """
    from nas.executors._ray_boot import join_abandoned

    join_abandoned()  # a Ray an earlier run left booting shuts itself down first
    if ray.is_initialized():
        return RaySession(address, started=False, owned=False)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray announces its default token authentication at every start; it would break the progress bar.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **kwargs)
        return RaySession(address, started=False, owned=True)
    opts = {**LOCAL_RAY, "num_cpus": num_cpus or os.cpu_count() or 1, **kwargs}
    session = RaySession(None, started=True, owned=True, reaper=_start_reaper())  # before: a kill mid-init too
    try:
        ray.init(address="local", **opts)
    except BaseException:
        _close_reaper(session)
        raise
    return session


def stop_ray(session: RaySession) -> None:
    """Shut down (or disconnect from) Ray if ``session`` opened it; leaves no local Ray behind."""
    if not session.owned:
        return
    node = getattr(ray._private.worker, "_global_node", None)
    if session.started and node is not None:
        with suppress(Exception):  # the autoscaler monitor takes a second to heed SIGTERM: nothing to save
            node.kill_monitor(check_alive=False)
    try:
        ray.shutdown()
    finally:
        _close_reaper(session)


def _close_reaper(session: RaySession) -> None:
    if session.reaper is not None:
        with suppress(OSError):
            session.reaper.stdin.close()  # type: ignore[union-attr]
        with suppress(subprocess.TimeoutExpired):
            session.reaper.wait(timeout=5)


@contextmanager
def ray_session(address: str | None = None, **kwargs: Any) -> Iterator[RaySession]:
    session = start_ray(address, **kwargs)
    try:
        yield session
    finally:
        stop_ray(session)


def _start_reaper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "nas.executors._reaper", str(os.getpid())],
        stdin=subprocess.PIPE, start_new_session=True,
    )


def _import_trial_code(paths: list[str], hold_s: float) -> int:
    """Import what a trial task needs, then hold the worker briefly so each slot gets its own."""
    from nas.executors.base import WORKER_MODULE

    sys.path.extend(p for p in paths if p not in sys.path)
    importlib.import_module(WORKER_MODULE)

    time.sleep(hold_s)
    return os.getpid()


def prewarm_workers(
    n: int, hold_s: float = 0.5, timeout_s: float = 60.0, give_up: Callable[[], bool] | None = None
) -> None:
    """Start ``n`` Ray worker processes with the trial code imported, so the first trials
    handed to Ray run at once instead of waiting for a worker process to boot.

    Waits at most ``timeout_s``, and stops waiting as soon as ``give_up()`` is true (the warm
    start has run the whole study: Ray's workers, which run at Ray's default niceness, may not
    get the CPU to boot while it works)."""
    from nas.executors.base import import_paths

    task = ray.remote(num_cpus=1, max_retries=0)(_import_trial_code)
    pending = [task.remote(import_paths(), hold_s) for _ in range(max(1, n))]
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline and not (give_up and give_up()):
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.2)
