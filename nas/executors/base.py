"""The executor interface: drive ask/tell until the study's budget is spent."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from storage import Trial

if TYPE_CHECKING:
    from nas.study import Study

ProgressFn = Callable[["Study", Trial], None]


class Executor(ABC):
    @abstractmethod
    def run(self, study: Study, progress: ProgressFn | None = None) -> None:
        """Evaluate trials until the study holds its budget of finished trials."""
