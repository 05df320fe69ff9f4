"""Local executor: one trial at a time on this machine, each in a child process.

The child (:mod:`nas.executors._process`) takes the trial over, evaluates and tells, as
a Ray worker does, so an evaluator behaves the same on both executors: it imports from
the driver's ``sys.path`` (which the CLI starts with the current directory), a hang past
``trial_timeout_s`` ends its process, and ``os._exit()`` fails only its trial.
``isolate=False`` evaluates in this process instead (for debuggers, and for an in-memory
SQLite database, which a child cannot open); there is no timeout then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.executors._process import TrialProcess
from nas.executors.base import Executor, ProgressFn, absolute_url, import_paths
from nas.runner import evaluate_trial
from storage import Trial

if TYPE_CHECKING:
    from nas.study import Study


@dataclass
class LocalExecutor(Executor):
    isolate: bool = True

    def run(self, study: Study, progress: ProgressFn | None = None) -> None:
        if not self.isolate or ":memory:" in study.store.url:  # a child cannot see a memory database
            while trials := study.ask(1):
                done = evaluate_trial(study, trials[0])
                if progress:
                    progress(study, done)
            return
        child: TrialProcess | None = None
        try:
            while trials := study.ask(1):
                child = child if child is not None and child.alive() else _spawn(study)
                done = _evaluate_in(child, study, trials[0])
                if progress:
                    progress(study, done)
        except BaseException:  # interrupted: end the evaluation now rather than wait for it
            if child is not None:
                child.kill()
            raise
        finally:
            if child is not None:
                child.close()


def _spawn(study: Study) -> TrialProcess:
    return TrialProcess(absolute_url(study.store.url), study.name, study.id, import_paths())


def _evaluate_in(child: TrialProcess, study: Study, trial: Trial) -> Trial:
    """Evaluate ``trial`` in ``child``; on a timeout or the child's death, fail (and maybe retry) it."""
    out = child.evaluate(trial.id, trial.number, study.spec.trial_timeout_s)
    if out.done:
        return study.store.get_trial(trial.id)
    failed, _retry = study.store.fail_and_requeue(trial.id, out.error, study.spec.max_retries)
    return failed
