"""Kill what a local Ray left behind when the driver that started it is gone.

Ray ties its raylet and GCS to the driver that started them, but its agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) outlive a driver killed with SIGKILL.
The driver starts this watchdog with a pipe on its stdin and the pids of the Ray
processes it started (GCS, raylet, monitors): the watchdog records those and their
descendants (workers, agents) every second and, once the pipe closes (the driver shut
Ray down, or died), kills whatever of them still runs. A pid is matched with its start
time, so a reused pid is never touched, and nothing outside that Ray is.

Run as ``python -m nas.executors._reaper PID...``; it imports nothing but psutil.
"""

from __future__ import annotations

import os
import select
import sys

import psutil

POLL_S = 1.0


def _record(roots: list[psutil.Process], seen: dict[int, psutil.Process]) -> None:
    for root in roots:
        try:
            if not root.is_running():
                continue
            seen.setdefault(root.pid, root)
            for p in root.children(recursive=True):
                seen.setdefault(p.pid, p)
        except psutil.Error:
            continue


def watch(root_pids: list[int], fd: int = 0, poll_s: float = POLL_S) -> int:
    """Track ``root_pids`` and their descendants until ``fd`` reaches EOF, then kill them.

    Returns how many processes were killed.
    """
    roots = []
    for pid in root_pids:
        try:
            roots.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    seen: dict[int, psutil.Process] = {}
    while True:
        _record(roots, seen)
        ready, _, _ = select.select([fd], [], [], poll_s)
        if ready and not os.read(fd, 4096):
            break
    killed = 0
    for p in seen.values():
        try:
            if p.pid != os.getpid() and p.is_running():  # is_running compares the start time
                p.kill()
                killed += 1
        except psutil.Error:
            continue
    return killed


def main() -> None:
    watch([int(a) for a in sys.argv[1:]])


if __name__ == "__main__":
    main()
