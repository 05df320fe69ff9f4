"""Evaluators named by the service tests (the server's allow-list names this module)."""

from __future__ import annotations

import math
import time


def slow_zdt(p: dict) -> dict:
    """ZDT1-like on two parameters, taking 0.15 s: long enough to stop or kill a study mid-run."""
    time.sleep(0.15)
    x0, x1 = p["x0"], p["x1"]
    g = 1 + 9 * x1
    return {"f1": x0, "f2": g * (1 - math.sqrt(x0 / g))}
