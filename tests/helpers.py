"""Small spec builders shared by tests."""

from __future__ import annotations


def zdt_spec(name: str, trials: int = 10, optimizer: str = "random", **extra: object) -> dict:
    """A small ZDT1 study on the local executor."""
    spec = {
        "name": name,
        "space": {"name": "synthetic", "options": {"problem": "zdt1", "dim": 4}},
        "optimizer": {"name": optimizer, "seed": 0},
        "budget": {"trials": trials},
        "executor": {"name": "local"},
    }
    spec.update(extra)
    return spec
