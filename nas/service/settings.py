"""Server settings: where it listens, its store, its token and what it may import."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field

DEFAULT_MAX_BODY = 1024 * 1024  # bytes; a spec is a few hundred
DEFAULT_MAX_TRIALS = 1_000_000


@dataclass(frozen=True)
class ServiceSettings:
    """Everything ``create_app`` needs. ``token`` guards writes (and reads off loopback).

    ``allow_modules``: top-level modules (or packages) whose ``module:function`` paths a
    request may name; every other import path in a spec is refused.
    ``ray``: start (or join, with ``address``) one Ray runtime shared by every study.
    """

    storage: str | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    host: str = "127.0.0.1"
    public_read: bool = False
    allow_modules: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    max_trials: int = DEFAULT_MAX_TRIALS
    ray: bool = True
    address: str | None = None
    num_cpus: int | None = None
    cache_ttl_s: float = 1.0
    refresh_s: float = 2.0

    @property
    def reads_need_token(self) -> bool:
        return not (self.public_read or is_loopback(self.host))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses nobody else can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_from_env() -> tuple[str, bool]:
    """``(token, generated)``: ``NAS_API_TOKEN`` when set, else a fresh random one."""
    tok = os.environ.get("NAS_API_TOKEN", "").strip()
    return (tok, False) if tok else (secrets.token_urlsafe(24), True)
