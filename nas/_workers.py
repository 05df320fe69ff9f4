"""Worker identity and liveness: who runs a trial, and whether that process still lives.

A worker id is ``host:pid:start-time``. A process on this host whose pid is gone (or now
belongs to a newer process) is known dead, so a resume right after a crash need not wait
for its heartbeat to go stale. Workers on other hosts are judged by heartbeat alone.
"""

from __future__ import annotations

import os
import socket

import psutil


def worker_id(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{int(psutil.Process(pid).create_time())}"


def is_dead(wid: str | None) -> bool:
    """True only when ``wid`` names a process on this host that no longer runs."""
    if not wid:
        return False
    parts = wid.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid, started = int(parts[1]), int(parts[2])
    except ValueError:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() == psutil.STATUS_ZOMBIE or int(proc.create_time()) != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
