"""Where built-in models and data are cached, and how a cache file is written safely."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """``$NAS_CACHE_DIR`` or ``~/.cache/nas``."""
    return Path(os.environ.get("NAS_CACHE_DIR") or Path.home() / ".cache" / "nas")


def cache_dir(part: str) -> Path:
    """``cache_root() / part`` (not created until something is written there)."""
    return cache_root() / part


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, then rename it there, so concurrent workers
    never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
