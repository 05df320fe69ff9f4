"""The executor interface: drive ask/tell until the study's budget is spent."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from storage import Trial

if TYPE_CHECKING:
    from nas.study import Study

ProgressFn = Callable[["Study", Trial], None]

#: Environment variable that hands a trial worker process its storage URL (never argv).
TASK_URL_ENV = "NAS_TASK_STORAGE"

#: The worker side of a trial (take it over, evaluate, tell). It loads studies, so it sits
#: above :mod:`nas.study`; executors start it by this name and never import it.
WORKER_MODULE = "nas.worker"


class Executor(ABC):
    @abstractmethod
    def run(self, study: Study, progress: ProgressFn | None = None) -> None:
        """Evaluate trials until the study holds its budget of finished trials."""


class Reporter:
    """Hands each finished trial to ``progress`` once, however many paths see it finish
    (the warm pool, a Ray task's result, a reap)."""

    def __init__(self, study: Study, progress: ProgressFn | None) -> None:
        self.study, self.progress = study, progress
        self.settled: set[int] = set()

    def __call__(self, t: Trial | None) -> None:
        if t is None or t.id in self.settled or not t.state.is_finished():
            return
        self.settled.add(t.id)
        if self.progress is not None:
            self.progress(self.study, t)


def import_paths() -> list[str]:
    """The driver's import path plus its working directory, so user evaluators
    (``module:function``) import the same way in every worker process."""
    paths = [os.path.abspath(p or os.getcwd()) for p in sys.path if os.path.isdir(p or os.getcwd())]
    cwd = os.getcwd()
    return paths if cwd in paths else [*paths, cwd]


def absolute_url(url: str) -> str:
    """SQLite paths made absolute: workers need not share the driver's directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix) :].startswith("/") and ":memory:" not in url:
        return prefix + os.path.abspath(url[len(prefix) :])
    return url
