"""A per-study read cache: entries expire after ``ttl`` seconds, are dropped when the server
records a trial, and are refreshed in the background while their last value is still served.

``get(key, compute)`` is the strict read: a fresh value or a new one (single flight: when
an entry is missing or expired, one caller computes it and the callers that arrive meanwhile
wait for that result instead of all reading the store at once).

``serve(key)`` is the read for hot polling paths: a fresh value as is; an expired one as is
too, while one background thread recomputes it with the ``compute`` that made it (stale
while revalidate), so no poller waits for the store. A value computed from before a
``drop`` is never stored after it (a generation count per study), so what this server
records is visible at once; what other processes write is visible within ``ttl`` plus one
refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
Key = tuple[str, ...]


@dataclass(frozen=True)
class _Entry:
    expires: float
    value: Any
    compute: Callable[[], Any]


class TTLCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[Key, _Entry] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[Key, threading.Lock] = {}
        self._generation: dict[str, int] = {}
        self._refreshing: set[Key] = set()

    def get(self, key: Key, compute: Callable[[], Any]) -> Any:
        hit = self.peek(key)
        if hit is not None:
            return hit
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            hit = self.peek(key)  # computed by the caller we waited for
            if hit is not None:
                return hit
            return self._compute_and_store(key, compute)

    def peek(self, key: Key) -> Any:
        """The cached value while fresh, else None (computes nothing)."""
        hit = self._data.get(key)
        return hit.value if hit is not None and hit.expires > time.monotonic() else None

    def serve(self, key: Key) -> Any:
        """The cached value, fresh or expired (then refreshed in the background); None if absent."""
        hit = self._data.get(key) if self.ttl > 0 else None  # ttl 0: the cache is off
        if hit is None:
            return None
        if hit.expires <= time.monotonic():
            self._refresh_later(key, hit.compute)
        return hit.value

    def drop(self, name: str) -> None:
        with self._lock:
            self._generation[name] = self._generation.get(name, 0) + 1
            for k in [k for k in self._data if k[0] == name]:
                del self._data[k]

    def _compute_and_store(self, key: Key, compute: Callable[[], Any]) -> Any:
        generation = self._generation.get(key[0], 0)
        value = compute()
        with self._lock:
            if self._generation.get(key[0], 0) == generation:  # no drop while computing
                self._data[key] = _Entry(time.monotonic() + self.ttl, value, compute)
        return value

    def _refresh_later(self, key: Key, compute: Callable[[], Any]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
        threading.Thread(target=self._refresh, args=(key, compute), name="cache-refresh", daemon=True).start()

    def _refresh(self, key: Key, compute: Callable[[], Any]) -> None:
        try:
            with self._lock:
                key_lock = self._key_locks.setdefault(key, threading.Lock())
            with key_lock:
                self._compute_and_store(key, compute)
        except Exception as e:  # the study was deleted, the store is down: stop serving the old value
            log.warning("refreshing %s failed (%s): the next read recomputes it", key, type(e).__name__)
            with self._lock:
                self._data.pop(key, None)
        finally:
            with self._lock:
                self._refreshing.discard(key)
