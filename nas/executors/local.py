"""In-process executor: one trial at a time, for unit tests, debugging and ask/tell users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.executors.base import Executor, ProgressFn
from nas.runner import evaluate_trial

if TYPE_CHECKING:
    from nas.study import Study


class LocalExecutor(Executor):
    def run(self, study: Study, progress: ProgressFn | None = None) -> None:
        while True:
            trials = study.ask(1, budget=study.budget)
            if not trials:
                return
            for t in trials:
                done = evaluate_trial(study, t)
                if progress:
                    progress(study, done)
