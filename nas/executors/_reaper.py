"""Kill what a local Ray left behind when the driver that started it is gone.

Ray ties its raylet and GCS to the driver that started them, but its agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) outlive a driver killed with SIGKILL.
The driver starts this watchdog just before ``ray.init``, with a pipe on its stdin. The
watchdog records the driver's descendants that are Ray processes and were born after it
(GCS, raylet, monitors, agents, workers: never the user's other children) and, once the
pipe closes (the driver shut Ray down, or died), kills whatever of them still runs. A pid
is matched with its start time, so a reused pid is never touched.

Run as ``python -m nas.executors._reaper DRIVER_PID``; it imports nothing but psutil.
"""

from __future__ import annotations

import os
import select
import sys
import time

import psutil

FAST_POLL_S, POLL_S, FAST_FOR_S = 0.1, 1.0, 20.0  # Ray starts most processes in its first seconds
RAY_NAMES = ("raylet", "gcs_server")
RAYLETS: set[int] = set()  # raylets seen: their agents carry RAY_RAYLET_PID
RAY_PATHS = ("site-packages/ray/", "/ray/_private/", "/ray/dashboard/", "/ray/autoscaler/", "/ray/core/src/")


def is_ray_process(p: psutil.Process) -> bool:
    name = p.name()
    if name.startswith("ray::") or name in RAY_NAMES:
        return True
    cmd = " ".join(p.cmdline())
    return any(k in cmd for k in RAY_PATHS)


def _record(driver: psutil.Process, since: float, seen: dict[int, psutil.Process]) -> None:
    try:
        kids = driver.children(recursive=True)
    except psutil.Error:
        return
    for p in kids:
        if p.pid in seen or p.pid == os.getpid():
            continue
        try:
            if p.create_time() >= since and is_ray_process(p):
                seen[p.pid] = p
                if p.name() == "raylet":
                    RAYLETS.add(p.pid)
        except psutil.Error:
            continue


def _record_orphans(since: float, seen: dict[int, psutil.Process]) -> None:
    """Agents whose raylet we tracked but that we never saw as descendants: a raylet dying
    with the driver re-parents its agents to init before a poll can record them."""
    raylets = {str(pid) for pid in RAYLETS}
    if not raylets:
        return
    for p in psutil.process_iter():
        try:
            if (p.pid not in seen and p.create_time() >= since and is_ray_process(p)
                    and p.environ().get("RAY_RAYLET_PID") in raylets):
                seen[p.pid] = p
        except psutil.Error:
            continue


def watch(driver_pid: int, fd: int = 0) -> int:
    """Track ``driver_pid``'s Ray descendants until ``fd`` reaches EOF, then kill them.

    Returns how many processes were killed.
    """
    since = psutil.Process().create_time() - 1.0
    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return 0
    seen: dict[int, psutil.Process] = {}
    start = time.monotonic()
    while True:
        _record(driver, since, seen)
        poll = FAST_POLL_S if time.monotonic() - start < FAST_FOR_S else POLL_S
        ready, _, _ = select.select([fd], [], [], poll)
        if ready and not os.read(fd, 4096):
            break
    _record_orphans(since, seen)
    killed = 0
    for p in seen.values():
        try:
            if p.is_running():  # is_running compares the start time
                p.kill()
                killed += 1
        except psutil.Error:
            continue
    return killed


def main() -> None:
    watch(int(sys.argv[1]))


if __name__ == "__main__":
    main()
