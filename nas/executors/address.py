"""Check a Ray address before a study is written: a run that cannot connect never starts.

``auto`` needs a cluster started on this machine (``ray start --head``); ``host:port`` must
answer on that port. Ray Client addresses (``ray://``) are not supported: run ``nas`` on a
node of the cluster instead. No Ray import: this runs before the executor loads Ray.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path


class AddressError(ValueError):
    """A Ray address cannot be used; the message says what to do."""


def check_address(address: str | None, timeout_s: float = 3.0) -> None:
    """Raise :class:`AddressError` unless ``address`` is None or a reachable Ray cluster."""
    if not address:
        return
    if address.startswith("ray://"):
        raise AddressError(
            f"--address {address}: Ray Client (ray://) is not supported; run nas on a node of the cluster "
            "with --address auto (or the head's host:port)"
        )
    target = _auto_address() if address == "auto" else address
    if target is None:
        raise AddressError(
            "--address auto: no Ray cluster is running on this machine; start one with `ray start --head`, "
            "or leave --address out to use a local Ray"
        )
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise AddressError(f"--address {address}: write auto or host:port of the cluster's head")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise AddressError(f"--address {address}: no Ray cluster answers at {target} ({e.strerror or e})") from None


#: Where ``ray start`` writes the address of the cluster it started on this machine.
CLUSTER_FILES = (Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster", Path("/tmp/ray/ray_current_cluster"))


def _auto_address() -> str | None:
    """What ``ray.init(address="auto")`` would join: ``RAY_ADDRESS`` or the local cluster file."""
    env = os.environ.get("RAY_ADDRESS")
    if env and env != "auto":
        return env
    for f in CLUSTER_FILES:
        if f.is_file() and (text := f.read_text().strip()):
            return text
    return None
