"""What the read endpoints return: pure serializers plus a short-lived cache.

A study's front, CSV and hypervolume history are cached per study for ``ttl`` seconds and
dropped as soon as this server records one of its trials, so a study run here is always
read fresh and one run elsewhere (the CLI) lags by at most ``ttl`` plus one refresh
(:mod:`nas.service.cache`).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from nas import _workers
from nas.service.cache import TTLCache
from nas.service.runs import Runner, open_study
from nas.study import Study
from storage import Store, StudyInfo, Trial, TrialState

STATES = ("running", "stopping", "complete", "stopped", "failed", "interrupted")


# ---- pure serializers -------------------------------------------------------------------


def trial_json(t: Trial) -> dict[str, Any]:
    """The CLI's ``--format json`` object for one trial."""
    return t.to_json()


def pareto_csv(study: Study, front: list[Trial]) -> str:
    """The CLI's ``--format csv`` table of a front, in the CLI's order."""
    from nas import _output

    buf = io.StringIO()
    _output.write_csv(study, _output.in_order(study, front), buf)
    return buf.getvalue()


def study_json(info: StudyInfo, state: str, counts: dict[str, int], error: str | None) -> dict[str, Any]:
    spec = json.loads(info.spec_json)
    spec.setdefault("budget", {})["trials"] = info.budget
    finished = counts.get("COMPLETE", 0) + counts.get("FAILED", 0)
    return {
        "name": info.name,
        "space": spec.get("space", {}).get("name", ""),
        "state": state,
        "budget": info.budget,
        "counts": counts,
        "complete": counts.get("COMPLETE", 0),
        "progress": min(1.0, finished / info.budget) if info.budget else 1.0,
        "objectives": [{"name": o.name, "direction": o.direction} for o in info.objectives],
        "created_at": info.created_at.isoformat(),
        "error": error,
        "spec": spec,
    }


# ---- the reads ------------------------------------------------------------------------------


class Reads:
    def __init__(self, store: Store, runner: Runner, ttl: float) -> None:
        self.store, self.runner = store, runner
        self.cache = TTLCache(ttl)

    def study(self, name: str) -> Study:
        return open_study(self.store, name)

    def status(self, name: str) -> dict[str, Any]:
        study = self.study(name)
        state, error = self.state(study)
        return study_json(study._info, state, study.counts(), error)

    def list(self) -> list[dict[str, Any]]:
        out = []
        for s in self.store.list_studies():
            try:
                out.append(self.status(s.name))
            except KeyError:  # deleted meanwhile
                continue
        return out

    def state(self, study: Study) -> tuple[str, str | None]:
        """running / stopping here; else complete, stopped or failed (this server's last run),
        running elsewhere (live trials), or interrupted (unfinished, nobody runs it)."""
        run = self.runner.get(study.name)
        if run is not None and run.alive:
            return ("stopping" if run.stop.is_set() else "running"), None
        if study.store.budget_left(study.id, study.budget) == 0 and not study.trials(
            [TrialState.RUNNING, TrialState.PENDING]
        ):
            return "complete", None
        if run is not None and run.error:
            return "failed", run.error
        if _live_trials(study):
            return "running", None
        if run is not None and run.stop.is_set():
            return "stopped", None
        return "interrupted", None

    def trials(self, name: str, state: str | None, offset: int, limit: int, desc: bool) -> dict[str, Any]:
        info = self.store.get_study(name)
        states = [TrialState(state.upper())] if state else None
        rows, total = self.store.trials_page(info.id, states, offset, limit, desc)
        return {"total": total, "offset": offset, "limit": limit, "trials": [trial_json(t) for t in rows]}

    def pareto_json(self, name: str) -> bytes:
        def compute() -> bytes:
            from nas import _output

            study = self.study(name)
            front = _output.in_order(study, study.pareto_front())
            return json.dumps([trial_json(t) for t in front]).encode()

        return self.cache.get((name, "pareto.json"), compute)

    def pareto_csv(self, name: str) -> str:
        def compute() -> str:
            study = self.study(name)
            return pareto_csv(study, study.pareto_front())

        return self.cache.get((name, "pareto.csv"), compute)

    def importance(self, name: str, objective: str | None, method: str, **settings: Any) -> list[dict[str, Any]]:
        """``nas importance --format json`` of a study; too few trials is a 409 naming how many."""
        from fastapi import HTTPException

        from nas.importance import ImportanceError

        def compute() -> list[dict[str, Any]]:
            try:
                return [r.to_json() for r in self.study(name).importance(objective, method, **settings)]
            except ImportanceError as e:
                raise HTTPException(status_code=409, detail=str(e)) from None

        key = f"importance:{objective}:{method}:{sorted(settings.items())}"
        return self.cache.get((name, key), compute)

    def hypervolume(self, name: str) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            study = self.study(name)
            hist = study.hypervolume_history()
            ref = study.reference_point() if hist else []
            return {"reference_point": ref, "history": [{"number": n, "hypervolume": h} for n, h in hist]}

        return self.cache.get((name, "hypervolume"), compute)


def _live_trials(study: Study) -> bool:
    """A RUNNING trial with a fresh heartbeat and a live worker: someone else runs the study."""
    fresh = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=study.spec.lease.grace_s)
    return any(
        t.heartbeat_at is not None and t.heartbeat_at > fresh and not _workers.is_dead(t.worker_id)
        for t in study.trials(TrialState.RUNNING)
    )
