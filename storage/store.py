"""The store: every read and write of studies and trials, each in one transaction.

Write transactions serialise per study: SQLite takes its write lock up front
(``BEGIN IMMEDIATE``), PostgreSQL locks the study row (``SELECT … FOR UPDATE``). That
makes trial numbering, budget reservation and the incremental Pareto flags exact under
any number of concurrent drivers and workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from storage import policy
from storage.engine import get_engine, mask_url, resolve_url, sqlite_path
from storage.migrate import ensure_schema
from storage.models import ObjectiveRow, StudyRow, TrialRow, TrialStepRow
from storage.records import ObjectiveInfo, StudyInfo, StudySummary, Trial, TrialState, TrialStep

_CHECKED: set[str] = set()


class StoreError(RuntimeError):
    """Base class of the store's errors."""


class NoDatabaseError(StoreError):
    """A read found no database (or none of our tables) at the storage URL."""


class StudyNotFoundError(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StudyExistsError(StoreError):
    """A study of that name exists with a different spec."""


class StaleProposalError(StoreError):
    """Another driver added trials after these proposals were made: propose again."""


class TrialStateError(StoreError):
    """A trial is not in a state that allows the operation (e.g. told twice differently)."""


class StepError(StoreError, ValueError):
    """A step report is malformed (backwards, missing an objective) or its trial has ended."""


#: ``decide(trial_number, step, peers)`` -> True continue / False stop / None no decision here;
#: ``peers`` are ``(trial_number, values)`` of every report at ``step`` in arrival order, this one last.
StepDecider = Callable[[int, int, list[tuple[int, dict[str, float]]]], bool | None]
#: ``promote(step, peers, stopped)`` -> the numbers among ``stopped`` (trials STOPPED at ``step``)
#: to run again: ``peers`` as for a :data:`StepDecider`.
StepPromoter = Callable[[int, list[tuple[int, dict[str, float]]], set[int]], list[int]]
_DECISION = {True: "continue", False: "stop", None: None}
#: The decision a stop becomes when its trial is promoted: replayed as "continue".
PROMOTED = "promoted"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """SQL store for studies and trials; ``url`` defaults to ``NAS_STORAGE`` or ./nas.db."""

    def __init__(self, url: str | None = None, *, readonly: bool = False, must_exist: bool = False) -> None:
        """Open the store; ``readonly`` never creates or changes a database (read commands):
        a missing SQLite file or a database without our schema raises :class:`NoDatabaseError`.
        ``must_exist`` refuses a missing SQLite file but may write (opening a stored study)."""
        self.url = resolve_url(url)
        self.readonly = readonly
        if readonly or must_exist:
            path = sqlite_path(self.url)
            if path and not os.path.isfile(path):
                raise NoDatabaseError(f"no database at {path!r}: nothing is stored there yet "
                                      "(check --storage or $NAS_STORAGE)")
        self._r = get_engine(self.url, write=False)
        if self.url not in _CHECKED:
            ensure_schema(None if readonly else get_engine(self.url, write=True), self._r, mask_url(self.url))
            _CHECKED.add(self.url)

    @property
    def _w(self) -> Engine:
        if self.readonly:
            raise StoreError(f"{mask_url(self.url)} was opened read-only")
        return get_engine(self.url, write=True)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._w, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._r, expire_on_commit=False) as s, s.begin():
            yield s

    # ---- studies ---------------------------------------------------------------------

    def create_study(
        self,
        name: str,
        spec_json: str,
        spec_hash: str,
        budget: int,
        objectives: Sequence[ObjectiveInfo],
    ) -> tuple[StudyInfo, bool]:
        """Create a study, or return the existing one with the same spec.

        Returns ``(study, created)``; raises :class:`StudyExistsError` when the name is
        taken by a different spec.
        """
        with self._write() as s:
            row = s.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is not None:
                if row.spec_hash != spec_hash:
                    raise StudyExistsError(
                        f"a study named {name!r} already exists with a different spec: choose "
                        f"another name, or `nas resume {name}` to continue the stored one"
                    )
                return self._study_info(s, row), False
            row = StudyRow(
                name=name, spec_json=spec_json, spec_hash=spec_hash, budget=budget, created_at=utcnow()
            )
            s.add(row)
            s.flush()
            for i, o in enumerate(objectives):
                s.add(ObjectiveRow(study_id=row.id, idx=i, name=o.name, direction=o.direction, ref=o.ref))
            s.flush()
            return self._study_info(s, row), True

    def get_study(self, name: str) -> StudyInfo:
        with self._read() as s:
            row = s.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                names = s.scalars(select(StudyRow.name).order_by(StudyRow.id)).all()
                hint = f"stored studies: {', '.join(names[:20])}" if names else "the store is empty"
                raise StudyNotFoundError(f"no study named {name!r} in {self.url} ({hint})")
            return self._study_info(s, row)

    def set_budget(self, study_id: int, budget: int) -> None:
        with self._write() as s:
            s.execute(update(StudyRow).where(StudyRow.id == study_id).values(budget=budget))

    def list_studies(self) -> list[StudySummary]:
        with self._read() as s:
            rows = s.execute(
                select(StudyRow.id, StudyRow.name, StudyRow.budget, StudyRow.created_at,
                       StudyRow.spec_json).order_by(StudyRow.id)
            ).all()
            counts = s.execute(
                select(TrialRow.study_id, TrialRow.state, func.count()).group_by(
                    TrialRow.study_id, TrialRow.state
                )
            ).all()
        by_study: dict[int, dict[str, int]] = {}
        for sid, state, n in counts:
            by_study.setdefault(sid, {})[state] = n
        return [
            StudySummary(name, budget, created, by_study.get(sid, {}), _space_name(spec))
            for sid, name, budget, created, spec in rows
        ]

    def _study_info(self, s: Session, row: StudyRow) -> StudyInfo:
        objs = s.scalars(
            select(ObjectiveRow).where(ObjectiveRow.study_id == row.id).order_by(ObjectiveRow.idx)
        ).all()
        return StudyInfo(
            id=row.id,
            name=row.name,
            spec_json=row.spec_json,
            spec_hash=row.spec_hash,
            budget=row.budget,
            objectives=tuple(ObjectiveInfo(o.name, o.direction, o.ref) for o in objs),
            created_at=row.created_at,
        )

    def _lock_study(self, s: Session, study_id: int) -> None:
        """Serialise writers of one study (SQLite already holds the database lock)."""
        if s.bind is not None and s.bind.dialect.name == "postgresql":
            s.execute(select(StudyRow.id).where(StudyRow.id == study_id).with_for_update())

    # ---- creating and claiming trials -----------------------------------------------

    def create_trials(
        self,
        study_id: int,
        params: Sequence[dict[str, Any]],
        *,
        state: TrialState = TrialState.PENDING,
        worker_id: str | None = None,
        budget: int | None = None,
        metrics: Sequence[dict[str, Any]] | None = None,
    ) -> list[Trial]:
        """Insert trials with the next free numbers. With ``budget``, creates at most as
        many as the budget still allows (trials that count: every trial except FAILED ones
        that were re-queued)."""
        with self._write() as s:
            self._lock_study(s, study_id)
            rows = self._insert(s, study_id, params, state, worker_id, budget, metrics)
            return [_to_trial(r) for r in rows]

    def claim_and_create(
        self,
        study_id: int,
        n: int,
        worker_id: str,
        params: Sequence[dict[str, Any]],
        *,
        budget: int | None = None,
        metrics: Sequence[dict[str, Any]] | None = None,
        expect_next: int | None = None,
    ) -> list[Trial]:
        """One transaction: claim up to ``n`` PENDING trials for ``worker_id``, then fill the
        rest with new RUNNING trials from ``params`` (within ``budget``).

        With ``expect_next`` (the next trial number the proposals were made for), raises
        :class:`StaleProposalError` and writes nothing when another writer added trials
        since, so two drivers never insert the same proposals.
        """
        with self._write() as s:
            self._lock_study(s, study_id)
            if params and expect_next is not None:
                top = s.scalar(select(func.max(TrialRow.number)).where(TrialRow.study_id == study_id))
                if (-1 if top is None else top) + 1 != expect_next:
                    raise StaleProposalError(f"trials were added after proposing for #{expect_next}")
            rows = self._claim(s, study_id, n, worker_id)
            room = min(n - len(rows), len(params))
            rows += self._insert(s, study_id, params[:room], TrialState.RUNNING, worker_id, budget,
                                 metrics[:room] if metrics else None)
            return [_to_trial(r) for r in rows]

    def _insert(
        self,
        s: Session,
        study_id: int,
        params: Sequence[dict[str, Any]],
        state: TrialState,
        worker_id: str | None,
        budget: int | None,
        metrics: Sequence[dict[str, Any]] | None,
    ) -> list[TrialRow]:
        k = len(params)
        if budget is not None:
            k = max(0, min(k, budget - self._used(s, study_id)))
        if k == 0:
            return []
        start = s.scalar(select(func.max(TrialRow.number)).where(TrialRow.study_id == study_id))
        start = -1 if start is None else start
        now = utcnow()
        running = state == TrialState.RUNNING
        rows = [
            TrialRow(
                study_id=study_id, number=start + 1 + i, state=state.value,
                params_json=json.dumps(p), metrics_json=_dump(metrics[i]) if metrics else None,
                attempt=0, requeued=False, worker_id=worker_id, created_at=now,
                started_at=now if running else None, heartbeat_at=now if running else None,
                is_pareto=False, feasible=True,
            )
            for i, p in enumerate(params[:k])
        ]
        s.add_all(rows)
        s.flush()
        return rows

    def _used(self, s: Session, study_id: int) -> int:
        """Trials that count against the budget: all of them (numbers are dense from 0)
        except FAILED ones that were re-queued (their retry counts instead). Two index
        lookups, so asking stays flat as the study grows."""
        top = s.scalar(select(func.max(TrialRow.number)).where(TrialRow.study_id == study_id))
        requeued = s.scalar(
            select(func.count()).where(TrialRow.study_id == study_id, TrialRow.requeued.is_(True))
        )
        return (-1 if top is None else top) + 1 - int(requeued or 0)

    def used_trials(self, study_id: int) -> int:
        """Trials counted against the budget (see :meth:`_used`)."""
        with self._read() as s:
            return self._used(s, study_id)

    def budget_left(self, study_id: int, budget: int) -> int:
        with self._read() as s:
            return max(0, budget - self._used(s, study_id))

    def claim_pending(self, study_id: int, n: int, worker_id: str) -> list[Trial]:
        """Move up to ``n`` PENDING trials to RUNNING for ``worker_id`` (oldest first)."""
        with self._write() as s:
            return [_to_trial(r) for r in self._claim(s, study_id, n, worker_id)]

    def _claim(self, s: Session, study_id: int, n: int, worker_id: str) -> list[TrialRow]:
        q = (
            select(TrialRow)
            .where(TrialRow.study_id == study_id, TrialRow.state == TrialState.PENDING.value)
            .order_by(TrialRow.number)
            .limit(n)
        )
        if s.bind is not None and s.bind.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = list(s.scalars(q).all())
        now = utcnow()
        for r in rows:
            r.state, r.worker_id, r.started_at, r.heartbeat_at = "RUNNING", worker_id, now, now
        s.flush()
        return rows

    def start_trial(self, trial_id: int, worker_id: str) -> Trial:
        """Mark a trial RUNNING on ``worker_id`` (a worker taking over a handed-out trial)."""
        with self._write() as s:
            r = self._trial_row(s, trial_id)
            if r.state not in (TrialState.PENDING.value, TrialState.RUNNING.value):
                raise TrialStateError(f"trial #{r.number} is {r.state}; it cannot be started")
            now = utcnow()
            r.state, r.worker_id, r.heartbeat_at = "RUNNING", worker_id, now
            r.started_at = r.started_at or now
            return _to_trial(r)

    def release(self, trial_ids: Iterable[int]) -> int:
        """Put those of ``trial_ids`` that are RUNNING back to PENDING (an interrupted driver
        hands its trials back; nothing is lost or counted twice). Returns how many moved."""
        ids = list(trial_ids)
        if not ids:
            return 0
        with self._write() as s:
            res = s.execute(
                update(TrialRow)
                .where(TrialRow.id.in_(ids), TrialRow.state == TrialState.RUNNING.value)
                .values(state=TrialState.PENDING.value, worker_id=None, heartbeat_at=None)
            )
            return int(res.rowcount or 0)

    def heartbeat(self, trial_id: int) -> bool:
        """Refresh a running trial's lease; False when it is no longer RUNNING."""
        with self._write() as s:
            res = s.execute(
                update(TrialRow)
                .where(TrialRow.id == trial_id, TrialRow.state == TrialState.RUNNING.value)
                .values(heartbeat_at=utcnow())
            )
            return bool(res.rowcount)

    # ---- finishing trials -------------------------------------------------------------

    def complete_trial(
        self,
        trial_id: int,
        values: dict[str, float],
        metrics: dict[str, Any] | None = None,
        feasible: bool = True,
    ) -> Trial:
        """Record a result and update the Pareto flags in the same transaction.

        Idempotent: the same values again are a no-op; different values raise.
        """
        with self._write() as s:
            r = self._trial_row(s, trial_id)
            self._lock_study(s, r.study_id)
            if r.state == TrialState.COMPLETE.value:
                if json.loads(r.values_json or "null") == values:
                    return _to_trial(r)
                raise TrialStateError(
                    f"trial #{r.number} is already COMPLETE with values {r.values_json}; "
                    f"refusing different values {json.dumps(values)}"
                )
            if r.state == TrialState.FAILED.value:
                raise TrialStateError(
                    f"trial #{r.number} is FAILED ({(r.error or '').splitlines()[0][:200]}); "
                    "its result is not recorded"
                )
            if r.state == TrialState.STOPPED.value:
                raise TrialStateError(f"trial #{r.number} was STOPPED by the scheduler; its result is not recorded")
            directions = self._directions(s, r.study_id)
            r.state, r.values_json, r.finished_at = "COMPLETE", _dump(values), utcnow()
            if metrics is not None:
                r.metrics_json = _dump({**json.loads(r.metrics_json or "{}"), **metrics})
            r.feasible = feasible
            if feasible:
                self._update_front(s, r, values, directions)
            s.flush()
            return _to_trial(r)

    def _directions(self, s: Session, study_id: int) -> list[tuple[str, float]]:
        rows = s.execute(
            select(ObjectiveRow.name, ObjectiveRow.direction)
            .where(ObjectiveRow.study_id == study_id)
            .order_by(ObjectiveRow.idx)
        ).all()
        return [(n, 1.0 if d == "min" else -1.0) for n, d in rows]

    def _update_front(
        self, s: Session, r: TrialRow, values: dict[str, float], directions: list[tuple[str, float]]
    ) -> None:
        y = [sign * values[name] for name, sign in directions]
        front = s.execute(
            select(TrialRow.id, TrialRow.values_json).where(
                TrialRow.study_id == r.study_id, TrialRow.is_pareto.is_(True)
            )
        ).all()
        points = [(fid, [sign * v[name] for name, sign in directions]) for fid, v in
                  ((fid, json.loads(vj)) for fid, vj in front)]
        joins, beaten = policy.pareto_update(points, y)
        if not joins:
            return
        r.is_pareto = True
        if beaten:
            s.execute(update(TrialRow).where(TrialRow.id.in_(beaten)).values(is_pareto=False))

    def fail_trial(self, trial_id: int, error: str, metrics: dict[str, Any] | None = None) -> Trial:
        """Mark a trial FAILED with its error text. Failing a FAILED trial again is a no-op."""
        with self._write() as s:
            r = self._trial_row(s, trial_id)
            if r.state == TrialState.FAILED.value:
                return _to_trial(r)
            if r.state in (TrialState.COMPLETE.value, TrialState.STOPPED.value):
                raise TrialStateError(f"trial #{r.number} is already {r.state}; it cannot fail")
            r.state, r.error, r.finished_at = "FAILED", error, utcnow()
            if metrics:
                r.metrics_json = _dump({**json.loads(r.metrics_json or "{}"), **metrics})
            return _to_trial(r)

    def reap(
        self,
        study_id: int,
        grace_s: float,
        is_dead: Callable[[str | None], bool],
        max_retries: int,
    ) -> list[tuple[Trial, Trial | None]]:
        """Fail RUNNING trials whose lease expired or whose worker is known dead, and
        re-queue their params as new PENDING trials while attempts remain.

        Returns ``(failed, retry or None)`` pairs.
        """
        cutoff = utcnow() - timedelta(seconds=grace_s)
        out: list[tuple[Trial, Trial | None]] = []
        with self._write() as s:
            self._lock_study(s, study_id)
            rows = s.scalars(
                select(TrialRow).where(
                    TrialRow.study_id == study_id, TrialRow.state == TrialState.RUNNING.value
                )
            ).all()
            stale = [r for r in rows if (r.heartbeat_at or r.created_at) < cutoff or is_dead(r.worker_id)]
            for r in stale:
                why = "worker died" if is_dead(r.worker_id) else f"no heartbeat for {grace_s:g} s"
                retry = self._fail_row(s, r, f"lease lost ({why}) on {r.worker_id}", max_retries)
                out.append((_to_trial(r), retry))
        return out

    def fail_and_requeue(self, trial_id: int, reason: str, max_retries: int) -> tuple[Trial, Trial | None]:
        """Fail a RUNNING trial with ``reason`` (a timeout, its worker process ended) and
        re-queue its params while attempts remain. A trial already finished is returned as it is."""
        with self._write() as s:
            r = self._trial_row(s, trial_id)
            self._lock_study(s, r.study_id)
            s.refresh(r)
            if r.state != TrialState.RUNNING.value:
                return _to_trial(r), None
            retry = self._fail_row(s, r, reason, max_retries)
            return _to_trial(r), retry

    def _fail_row(self, s: Session, r: TrialRow, reason: str, max_retries: int) -> Trial | None:
        """Mark ``r`` FAILED; add its retry (:func:`storage.policy.retry_of`) when one is due."""
        number = s.scalar(select(func.max(TrialRow.number)).where(TrialRow.study_id == r.study_id))
        r.state, r.finished_at = "FAILED", utcnow()
        retry = policy.retry_of(r, int(number or 0) + 1, max_retries, utcnow())
        r.requeued = retry is not None
        r.error = policy.failure_message(reason, r.attempt, retry.number if retry else None)
        if retry is not None:
            s.add(retry)
        s.flush()
        return _to_trial(retry) if retry is not None else None

    # ---- steps (multi-fidelity) -------------------------------------------------------

    def add_step(
        self,
        trial_id: int,
        step: int,
        values: dict[str, float],
        decide: StepDecider | None = None,
        promote: StepPromoter | None = None,
    ) -> bool:
        """Store a RUNNING trial's report after ``step`` and the scheduler's decision, in one
        transaction that serialises with every other writer of the study, so the decision
        sees exactly the reports stored before it. Returns False when the trial must stop.

        A step already stored for this trial (a released trial run again after a
        resume, or a promoted one run again from the start) is not written twice: its
        stored decision is returned, so a resumed driver decides the same. After a decision,
        ``promote`` may send trials STOPPED at ``step`` back to the queue (:meth:`_promote`),
        in the same transaction. Raises :class:`StepError` for a step going backwards,
        values missing an objective, or a trial that is not RUNNING; nothing is written then.
        """
        with self._write() as s:
            r = self._trial_row(s, trial_id)
            self._lock_study(s, r.study_id)
            s.refresh(r)
            stored = s.execute(select(TrialStepRow.step, TrialStepRow.decision).where(
                TrialStepRow.trial_id == trial_id).order_by(TrialStepRow.step)).all()
            replay = {st: d for st, d in stored}
            if step in replay and not isinstance(step, bool):
                return replay[step] != "stop"
            if r.state != TrialState.RUNNING.value:
                raise StepError(f"trial #{r.number} is {r.state}; it takes no more steps")
            names = [n for n, _ in self._directions(s, r.study_id)]
            try:
                clean = policy.check_step(r.number, step, stored[-1][0] if stored else None, values, names)
            except policy.StepValueError as e:
                raise StepError(str(e)) from None
            row = TrialStepRow(study_id=r.study_id, trial_id=r.id, step=step, values_json=_dump(clean),
                               decision=None, created_at=utcnow())
            s.add(row)
            s.flush()
            if decide is not None:
                peers = self._rung(s, r.study_id, step)
                row.decision = _DECISION[decide(r.number, step, peers)]
                if promote is not None and row.decision is not None:
                    self._promote(s, r.study_id, step, promote, peers)
            r.heartbeat_at = utcnow()
            return row.decision != "stop"

    def _promote(
        self, s: Session, study_id: int, step: int, promote: StepPromoter,
        peers: list[tuple[int, dict[str, float]]] | None = None,
    ) -> list[int]:
        """Re-queue the trials STOPPED at ``step`` that ``promote`` names: PENDING again, with
        no values, and their stop at ``step`` stored as ``promoted``, so the run again
        replays their reports up to ``step`` and goes on. ``peers``: the reports at ``step``
        when the caller has read them. Returns their numbers."""
        rows = s.execute(
            select(TrialRow, TrialStepRow)
            .join(TrialStepRow, TrialStepRow.trial_id == TrialRow.id)
            .where(TrialStepRow.study_id == study_id, TrialStepRow.step == step,
                   TrialStepRow.decision == "stop", TrialRow.state == TrialState.STOPPED.value)
        ).all()
        if not rows:
            return []
        peers = self._rung(s, study_id, step) if peers is None else peers
        chosen = set(promote(step, peers, {t.number for t, _ in rows}))
        for trial, report in rows:
            if trial.number in chosen:
                report.decision = PROMOTED
                metrics = json.loads(trial.metrics_json or "{}")
                metrics.pop("stopped_at_step", None)
                metrics["promoted_at_steps"] = [*metrics.get("promoted_at_steps", []), step]
                trial.state, trial.values_json, trial.metrics_json = TrialState.PENDING.value, None, _dump(metrics)
                trial.finished_at, trial.worker_id, trial.heartbeat_at = None, None, None
        s.flush()
        return sorted(chosen)

    def _rung(self, s: Session, study_id: int, step: int) -> list[tuple[int, dict[str, float]]]:
        """Every report at ``step`` in the study in arrival order (those of trials that later
        failed too: what was stored before a decision is exactly what it saw)."""
        rows = s.execute(
            select(TrialRow.number, TrialStepRow.values_json)
            .join(TrialRow, TrialRow.id == TrialStepRow.trial_id)
            .where(TrialStepRow.study_id == study_id, TrialStepRow.step == step)
            .order_by(TrialStepRow.id)
        ).all()
        return [(n, json.loads(v)) for n, v in rows]

    def steps(self, trial_id: int) -> list[TrialStep]:
        """A trial's reports in step order (its learning curve)."""
        with self._read() as s:
            rows = s.scalars(select(TrialStepRow).where(TrialStepRow.trial_id == trial_id)
                             .order_by(TrialStepRow.step)).all()
            return [TrialStep(r.step, json.loads(r.values_json), r.decision, r.created_at) for r in rows]

    def stop_trial(
        self, trial_id: int, metrics: dict[str, Any] | None = None, promote: StepPromoter | None = None
    ) -> Trial:
        """End a RUNNING trial the scheduler stopped: STOPPED, with its last step's objective
        values; never flagged Pareto. Stopping a STOPPED trial again is a no-op. With
        ``promote``, every trial STOPPED at that step, this one included, is asked again
        (:meth:`_promote`): reports may have arrived since its stop was decided."""
        with self._write() as s:
            r = self._trial_row(s, trial_id)
            self._lock_study(s, r.study_id)
            s.refresh(r)
            if r.state == TrialState.STOPPED.value:
                return _to_trial(r)
            if r.state != TrialState.RUNNING.value:
                raise TrialStateError(f"trial #{r.number} is {r.state}; only a RUNNING trial can be stopped")
            last = s.scalar(select(TrialStepRow).where(TrialStepRow.trial_id == trial_id)
                            .order_by(TrialStepRow.step.desc()).limit(1))
            if last is None:
                raise TrialStateError(f"trial #{r.number} reported no step; it cannot end STOPPED")
            names = [n for n, _ in self._directions(s, r.study_id)]
            values = json.loads(last.values_json)
            r.state, r.finished_at, r.is_pareto = "STOPPED", utcnow(), False
            r.values_json = _dump({n: values[n] for n in names})
            r.metrics_json = _dump({**json.loads(r.metrics_json or "{}"), **(metrics or {}),
                                    "stopped_at_step": last.step})
            if promote is not None and last.decision == "stop":
                self._promote(s, r.study_id, last.step, promote)  # r is that session's row: updated
            return _to_trial(r, last.step)

    def last_steps(self, study_id: int) -> dict[int, int]:
        """Trial id -> its last reported step, for the trials that reported any."""
        with self._read() as s:
            return self._last_steps(s, study_id)

    def _last_steps(self, s: Session, study_id: int) -> dict[int, int]:
        rows = s.execute(select(TrialStepRow.trial_id, func.max(TrialStepRow.step))
                         .where(TrialStepRow.study_id == study_id).group_by(TrialStepRow.trial_id)).all()
        return {tid: st for tid, st in rows}

    # ---- reading ----------------------------------------------------------------------

    def trials(
        self, study_id: int, states: Sequence[TrialState] | None = None, pareto_only: bool = False
    ) -> list[Trial]:
        with self._read() as s:
            q = select(TrialRow).where(TrialRow.study_id == study_id)
            if states:
                q = q.where(TrialRow.state.in_([st.value for st in states]))
            order = TrialRow.number
            if pareto_only:
                q = q.where(TrialRow.is_pareto.is_(True))
                # Ordering by an expression keeps SQLite's planner on the (study_id, is_pareto)
                # index (it has no statistics): ordering by the indexed number scans the study.
                order = TrialRow.number + 0
            rows = s.scalars(q.order_by(order)).all()
            last = self._last_steps(s, study_id) if rows and not pareto_only else {}
            return [_to_trial(r, last.get(r.id)) for r in rows]

    def trials_page(
        self, study_id: int, states: Sequence[TrialState] | None, offset: int, limit: int, desc: bool = False
    ) -> tuple[list[Trial], int]:
        """One page of trials by number (``desc``: newest first) and how many match in all."""
        with self._read() as s:
            where = [TrialRow.study_id == study_id]
            if states:
                where.append(TrialRow.state.in_([st.value for st in states]))
            total = s.scalar(select(func.count()).select_from(TrialRow).where(*where)) or 0
            order = TrialRow.number.desc() if desc else TrialRow.number
            q = select(TrialRow).where(*where).order_by(order).offset(offset).limit(limit)
            return [_to_trial(r) for r in s.scalars(q)], int(total)

    def trials_changed(self, study_id: int, after_id: int, open_ids: Sequence[int]) -> list[Trial]:
        """Trials created after ``after_id`` plus the trials ``open_ids`` (to see if they finished)."""
        with self._read() as s:  # two index-range queries: an OR would scan the whole study
            rows = list(s.scalars(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.id > after_id)))
            if open_ids:
                rows += s.scalars(select(TrialRow).where(TrialRow.id.in_([i for i in open_ids if i <= after_id])))
            return [_to_trial(r) for r in sorted(rows, key=lambda r: r.id)]

    def promotions(self, study_id: int) -> dict[int, int]:
        """Trial id -> how many of its stops were promoted (its steps decided ``promoted``):
        a reader holding finished trials re-reads a trial whose count changed."""
        with self._read() as s:
            rows = s.execute(select(TrialStepRow.trial_id, func.count())
                             .where(TrialStepRow.study_id == study_id, TrialStepRow.decision == PROMOTED)
                             .group_by(TrialStepRow.trial_id)).all()
            return {tid: int(k) for tid, k in rows}

    def trial_by_number(self, study_id: int, number: int) -> Trial | None:
        with self._read() as s:
            r = s.scalar(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number))
            return _to_trial(r) if r is not None else None

    def get_trial(self, trial_id: int) -> Trial:
        with self._read() as s:
            return _to_trial(self._trial_row(s, trial_id))

    def counts(self, study_id: int) -> dict[str, int]:
        with self._read() as s:
            rows = s.execute(
                select(TrialRow.state, func.count())
                .where(TrialRow.study_id == study_id)
                .group_by(TrialRow.state)
            ).all()
        return {state: n for state, n in rows}

    def _trial_row(self, s: Session, trial_id: int) -> TrialRow:
        r = s.get(TrialRow, trial_id)
        if r is None:
            raise TrialStateError(f"no trial with id {trial_id}")
        return r


def _dump(d: dict[str, Any] | None) -> str | None:
    return None if d is None else json.dumps(d, default=_json_default)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _load(s: str | None) -> Any:
    return None if s is None else json.loads(s)


def _to_trial(r: TrialRow, last_step: int | None = None) -> Trial:
    return Trial(
        id=r.id,
        number=r.number,
        state=TrialState(r.state),
        params=json.loads(r.params_json),
        values=_load(r.values_json),
        metrics=_load(r.metrics_json) or {},
        error=r.error,
        attempt=r.attempt,
        worker_id=r.worker_id,
        heartbeat_at=r.heartbeat_at,
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        is_pareto=bool(r.is_pareto),
        feasible=bool(r.feasible),
        requeued=bool(r.requeued),
        last_step=last_step,
    )


def _space_name(spec_json: str) -> str:
    try:
        return str(json.loads(spec_json).get("space", {}).get("name", ""))
    except (ValueError, AttributeError):
        return ""
