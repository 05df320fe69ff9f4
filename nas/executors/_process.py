"""A child Python process that evaluates trials one at a time, and can be ended.

The local executor evaluates every trial in such a child, and the Ray executor's warm
start uses one while Ray boots. Isolation is what makes the guarantees hold: an evaluator
that hangs past ``trial_timeout_s`` is ended with its process, and one that calls
``os._exit()`` or is killed takes only the child down. The driver then fails the trial
with the reason; :meth:`storage.Store.fail_and_requeue` applies ``max_retries``.

The storage URL reaches the child through its environment, never its command line.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass

from nas.executors.base import TASK_URL_ENV as URL_ENV
from nas.executors.base import WORKER_MODULE


@dataclass(frozen=True)
class Outcome:
    """How one evaluation in the child ended: ``done`` (its result is stored), else why not."""

    done: bool
    error: str = ""


class TrialProcess:
    """``python -m nas.worker`` kept alive across trials of one study."""

    def __init__(self, url: str, study_name: str, study_id: int, paths: list[str]) -> None:
        cmd = [sys.executable, "-m", WORKER_MODULE, study_name, str(study_id), json.dumps(paths)]
        env = {**os.environ, URL_ENV: url}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.ready = self._read_line(None) == "ready"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def evaluate(self, trial_id: int, number: int, timeout_s: float | None) -> Outcome:
        """Hand trial ``trial_id`` to the child and wait for it; ends the child on a timeout."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{trial_id}\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return Outcome(False, self._death(number))
        line = self._read_line(timeout_s)
        if line == str(trial_id):
            return Outcome(True)
        if line is None:
            self.kill()
            return Outcome(False, f"timed out after {timeout_s:g} s (trial_timeout_s); its worker process was ended")
        return Outcome(False, self._death(number))

    def _read_line(self, timeout_s: float | None) -> str | None:
        """The child's next answer line, ``""`` at end of output (it died), None on a timeout."""
        assert self.proc.stdout is not None
        if timeout_s is not None:
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
                if ready:
                    break
        return self.proc.stdout.readline().strip()

    def _death(self, number: int) -> str:
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        code = self.proc.poll()
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-code}" if code else "no code"
        return (f"the worker process evaluating trial #{number} ended ({how}): the evaluator called "
                "os._exit() or the process was killed (out of memory?)")

    def kill(self) -> None:
        with suppress(OSError):
            self.proc.kill()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def close(self, timeout_s: float = 30.0) -> None:
        """Let the child finish (it exits at end of input); kill it if it does not."""
        with suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
