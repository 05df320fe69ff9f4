"""Executors run a study to its budget on top of ask/tell: ``local`` (in-process), ``ray``."""

from __future__ import annotations

from typing import Any

from nas.executors.base import Executor, ProgressFn
from nas.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "ProgressFn", "make_executor"]


def make_executor(spec: Any, **overrides: Any) -> Executor:
    """Build the executor named by an ``ExecutorSpec`` (``local`` or ``ray``)."""
    name = overrides.pop("name", None) or spec.name
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from nas.executors.ray import RayExecutor

        return RayExecutor.from_spec(spec, **overrides)
    raise ValueError(f"unknown executor {name!r}: use local or ray")
