"""The worker side of one trial, free of Ray imports: take it over, evaluate it, tell.

Runs inside Ray tasks (:mod:`nas.executors._ray_driver`) and in the child processes of the
local executor and of the Ray executor's warm start (:mod:`nas.executors._process`):
``python -m nas.worker NAME STUDY_ID PATHS_JSON`` with the storage URL in
the environment variable ``NAS_TASK_STORAGE`` (never on the command line, where ``ps``
would show its password) prints ``ready``, then reads trial ids from stdin, one a line,
and answers each with its id once the result is stored.

This module sits above :mod:`nas.study` (it loads studies); the executors sit below it and
start it by name (:data:`nas.executors.base.WORKER_MODULE`), as a process entry point, so
neither they nor the study import each other in a circle.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import suppress

from nas import _workers
from nas.executors.base import TASK_URL_ENV as URL_ENV
from nas.runner import error_summary, evaluate_trial
from nas.study import Study, load_study
from storage import Trial, TrialStateError

log = logging.getLogger(__name__)

_STUDIES: dict[tuple[str, str], Study] = {}  # per worker process: (url, name) -> study
_WORKER_ID: list[str] = []


def run_trial(
    url: str, study_name: str, trial_id: int, paths: list[str] | None = None, study_id: int | None = None
) -> Trial | None:
    """Take over trial ``trial_id`` in this process, evaluate it and record the outcome.

    The trial is marked RUNNING on this process's worker id, so its liveness is judged by
    the process that evaluates it. Returns the finished trial, or None when the trial is
    no longer this worker's to run (its lease expired and a retry owns its params).
    """
    for p in paths or ():
        if p not in sys.path:
            sys.path.append(p)
    study = cached_study(url, study_name, study_id)
    if not _WORKER_ID:
        _WORKER_ID.append(_workers.worker_id())
    try:
        trial = study.store.start_trial(trial_id, _WORKER_ID[0])
    except TrialStateError as e:
        log.warning("trial id %s not started: %s", trial_id, e)
        return None
    try:
        return evaluate_trial(study, trial)
    except Exception as e:  # the evaluation's own errors are told by evaluate_trial; this is the rest
        try:
            return study.store.fail_trial(trial_id, error_summary(e))
        except TrialStateError:
            return study.store.get_trial(trial_id)


def cached_study(url: str, name: str, study_id: int | None = None) -> Study:
    """The study, loaded once per process (a study re-created under the same name is reloaded)."""
    key = (url, name)
    cached = _STUDIES.get(key)
    if cached is None or (study_id is not None and cached.id != study_id):
        cached = _STUDIES[key] = load_study(name, url)
    return cached


def _fail_exited(url: str, name: str, trial_id: int, e: SystemExit, study_id: int) -> None:
    """Fail a trial whose evaluator called ``sys.exit()``. Only here, in our own worker
    process: in a Ray worker a SystemExit is also how Ray ends a worker whose job died, and
    that trial must stay RUNNING for the reaper to re-queue."""
    msg = f"{error_summary(e)}\nthe evaluator called sys.exit({e.code!r}); its trial fails, the study goes on"
    with suppress(TrialStateError):  # already finished or reaped
        cached_study(url, name, study_id).store.fail_trial(trial_id, msg)


def main() -> None:
    url = os.environ.pop(URL_ENV)  # the evaluator's own subprocesses need not see it
    name, study_id, paths = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the evaluator's prints go to stderr, not into the answers
    sys.stdout = sys.stderr
    cached_study(url, name, study_id)
    answer.write("ready\n")
    answer.flush()
    for line in sys.stdin:
        tid = int(line)
        try:
            run_trial(url, name, tid, paths, study_id)
        except SystemExit as e:  # the evaluator's sys.exit() ends its trial, not this worker
            _fail_exited(url, name, tid, e, study_id)
        try:
            answer.write(f"{tid}\n")
            answer.flush()
        except BrokenPipeError:  # the driver is gone (interrupted, killed); the result is stored
            os._exit(0)


if __name__ == "__main__":
    main()
