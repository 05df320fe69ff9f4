"""Study: a row in SQL plus its spec, driven by ask/tell.

``ask`` claims re-queued trials first, then asks the optimizer for new ones (it sees
completed and running trials); ``tell`` records a result and keeps the Pareto flags
current in the same transaction. ``optimize`` is ask/tell driven by an executor.
"""

from __future__ import annotations

import bisect
import json
import math
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nas import _workers
from nas.spec import StudySpec, parse_spec, validate_study_spec
from search_spaces.base import Objective, SearchSpace
from storage import ObjectiveInfo, Store, StudyInfo, Trial, TrialState
from storage.store import StaleProposalError

if TYPE_CHECKING:
    import numpy as np

    from nas.importance import ObjectiveImportance
    from nas.optimizers.base import Constraint, Optimizer
    from nas.schedulers import Scheduler


class TellError(ValueError):
    """A result handed to ``tell`` is malformed (missing or non-finite objective values)."""


class BudgetError(ValueError):
    """A new budget is smaller than the trials the study already counts."""


StateArg = str | TrialState | Sequence[str | TrialState] | None
_PROPOSE_ATTEMPTS = 8


class Study:
    def __init__(self, store: Store, info: StudyInfo, spec: StudySpec) -> None:
        self.store = store
        self._info = info
        self.spec = spec
        self._space: SearchSpace | None = None
        self._optimizer: Optimizer | None = None
        self._scheduler: Scheduler | None = None
        self._snapshot = _Snapshot()
        self.handed_out: set[int] = set()  # ids of trials ask() returned in this process

    # ---- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def id(self) -> int:
        return self._info.id

    @property
    def budget(self) -> int:
        return self.spec.budget.trials

    @property
    def objectives(self) -> tuple[ObjectiveInfo, ...]:
        return self._info.objectives

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self._info.objectives]

    @property
    def space(self) -> SearchSpace:
        if self._space is None:
            _, self._space, _ = validate_study_spec(self.spec)
        return self._space

    @property
    def constraints(self) -> list[Constraint]:
        from nas.optimizers.base import Constraint

        return [Constraint(c.metric, c.le, c.ge) for c in self.spec.constraints]

    @property
    def optimizer(self) -> Optimizer:
        if self._optimizer is None:
            from nas.optimizers import Problem, make_optimizer

            objs = [Objective(o.name, o.direction, o.ref) for o in self._info.objectives]  # type: ignore[arg-type]
            max_step = getattr(self.scheduler.config, "max_step", None) if self.scheduler else None
            problem = Problem(self.space.params, objs, self.constraints, max_step)
            opt = self.spec.optimizer
            self._optimizer = make_optimizer(opt.name, problem, seed=opt.seed, **opt.options())
        return self._optimizer

    @property
    def scheduler(self) -> Scheduler | None:
        """The spec's early-stopping scheduler, or None without a ``scheduler:`` entry."""
        if self._scheduler is None and self.spec.scheduler is not None:
            from nas.schedulers import make_scheduler

            s = self.spec.scheduler
            objectives = [(o.name, o.direction) for o in self._info.objectives]
            self._scheduler = make_scheduler(s.name, s.options(), objectives)
        return self._scheduler

    @property
    def _promotes(self) -> bool:
        return self.scheduler is not None and self.scheduler.promotes

    # ---- ask / tell ---------------------------------------------------------------------

    def ask(
        self, n: int = 1, *, worker_id: str | None = None, budget: int | None = None, past_budget: bool = False
    ) -> list[Trial]:
        """Return up to ``n`` RUNNING trials: re-queued ones first, then new proposals.

        Never lets the study count more trials than its budget (or ``budget`` when given;
        see :meth:`used` for what counts), so fewer than ``n`` or none come back near the end.
        ``past_budget=True`` lifts the cap, for ask/tell loops that manage their own count.
        """
        if budget is None and not past_budget:
            budget = self.budget
        elif past_budget:
            budget = None
        wid = worker_id or _workers.worker_id()
        for attempt in range(_PROPOSE_ATTEMPTS):
            history, pending, position = self._snapshot.refresh(self.store, self.id, self._promotes)
            k = n - min(n, sum(t.state == TrialState.PENDING for t in pending))
            if budget is not None and k > 0:
                k = min(k, self.store.budget_left(self.id, budget))
            configs: list[dict[str, Any]] = []
            meta = None
            if k > 0:
                # After a collision, salt the generator with this driver's id: two drivers with
                # the same snapshot would otherwise keep drawing the same configurations.
                salt = (attempt, zlib.crc32(wid.encode())) if attempt else ()
                configs, info = self._propose(k, history, pending, position, salt)
                meta = [{"optimizer": info}] * len(configs) if info else None
            # Another driver may have added trials meanwhile; then propose again, seeing them
            # as pending. The last attempt inserts regardless so a busy study still progresses.
            expect = position if attempt + 1 < _PROPOSE_ATTEMPTS else None
            try:
                got = self.store.claim_and_create(
                    self.id, n, wid, configs, budget=budget, metrics=meta, expect_next=expect
                )
            except StaleProposalError:
                continue
            self.handed_out.update(t.id for t in got)
            return got
        raise AssertionError("unreachable: the last attempt does not check staleness")

    def _propose(
        self, n: int, history: list[Trial], pending: list[Trial], position: int, salt: tuple[int, ...] = ()
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        opt = self.optimizer
        configs = opt.propose(history, pending, n, _rng(self.spec.optimizer.seed, position, *salt))
        from search_spaces.params import validate_config

        return [validate_config(self.space.params, c) for c in configs], dict(opt.last_info)

    def tell(
        self,
        trial: Trial | int,
        values: dict[str, float] | None = None,
        *,
        error: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Trial:
        """Record a trial's result (``values``) or failure (``error``).

        Telling the same values twice is a no-op; different values raise.
        """
        tid = self._trial_id(trial)
        if (values is None) == (error is None):
            raise TellError("tell needs exactly one of values=… or error=…")
        if error is not None:
            return self.store.fail_trial(tid, str(error), metrics)
        clean = self._check_values(values or {})
        feasible = self._feasible(clean, metrics or {}, tid)
        return self.store.complete_trial(tid, clean, metrics, feasible)

    def _trial_id(self, trial: Trial | int) -> int:
        if isinstance(trial, Trial):
            return trial.id
        found = self.store.trial_by_number(self.id, int(trial))
        if found is None:
            raise TellError(f"study {self.name!r} has no trial number {trial}")
        return found.id

    def _check_values(self, values: dict[str, float]) -> dict[str, float]:
        names = [o.name for o in self.objectives]
        missing = [n for n in names if n not in values]
        unknown = [k for k in values if k not in names]
        if missing or unknown:
            raise TellError(f"values must hold exactly the objectives {names}: missing {missing}, "
                            f"unknown {unknown} (put extra numbers in metrics=…)")
        out = {}
        for n in names:
            try:
                v = float(values[n])
            except (TypeError, ValueError):
                raise TellError(f"objective {n!r}: {values[n]!r} is not a number") from None
            if not math.isfinite(v):
                raise TellError(f"objective {n!r} is {v}; values must be finite (tell error=… instead)")
            out[n] = v
        return out

    def _feasible(self, values: dict[str, float], metrics: dict[str, Any], tid: int) -> bool:
        if not self.spec.constraints:
            return True
        stored = self.store.get_trial(tid).metrics
        known = {**stored, **metrics, **values}
        ok = True
        for c in self.constraints:
            if c.metric not in known:
                raise TellError(f"constraint metric {c.metric!r} is missing: report it in values or metrics")
            ok &= c.satisfied(float(known[c.metric]))
        return ok

    # ---- reading --------------------------------------------------------------------------

    def trials(self, state: StateArg = None) -> list[Trial]:
        """Trials ordered by number, optionally only those in ``state`` (one or several)."""
        return self.store.trials(self.id, _states(state))

    def pareto_front(self) -> list[Trial]:
        """The feasible non-dominated COMPLETE trials (read from the maintained flags)."""
        return self.store.trials(self.id, [TrialState.COMPLETE], pareto_only=True)

    def counts(self) -> dict[str, int]:
        return self.store.counts(self.id)

    def used(self) -> int:
        """Trials counted against the budget: every COMPLETE, FAILED, RUNNING and PENDING
        trial, except a FAILED one that was re-queued (its retry counts in its place)."""
        return self.store.used_trials(self.id)

    def reference_point(self, trials: Sequence[Trial] | None = None) -> list[float]:
        """Hypervolume reference in the user's orientation: each objective's ``ref`` when
        set, else the worst observed value plus 10% of the observed range."""
        import numpy as np

        from nas.pareto import reference_point, signs

        done = trials if trials is not None else self.trials(TrialState.COMPLETE)
        Y = self._matrix([t for t in done if t.feasible]) * signs(self.directions)
        ref = reference_point(Y, [o.ref for o in self.objectives], self.directions)
        return [float(r) for r in np.asarray(ref) * signs(self.directions)]

    def hypervolume_history(self) -> list[tuple[int, float]]:
        """``(trial number, hypervolume so far)`` after each COMPLETE trial in finishing order."""
        import numpy as np

        from nas.pareto import hypervolume_trace, signs

        done = sorted(self.trials(TrialState.COMPLETE), key=_finish_order)
        feas = [t for t in done if t.feasible]
        if not feas:
            return [(t.number, 0.0) for t in done]
        ref = np.asarray(self.reference_point(done)) * signs(self.directions)
        Y = self._matrix(done) * signs(self.directions)
        Y[~np.array([t.feasible for t in done])] = np.inf
        hv = hypervolume_trace(Y, ref)
        return [(t.number, float(h)) for t, h in zip(done, hv, strict=True)]

    def importance(
        self, objective: str | None = None, method: str = "sobol", **settings: Any
    ) -> list[ObjectiveImportance]:
        """Sobol (or fANOVA) indices of every parameter for ``objective`` (default: each one),
        from the COMPLETE trials; ``settings`` go to :class:`nas.importance.Settings`."""
        from nas.importance import ImportanceError, Settings, importance
        from nas.optimizers._encode import encode

        names = [o.name for o in self.objectives]
        if objective is not None and objective not in names:
            raise ImportanceError(f"objective {objective!r} is not one of {names}")
        done = self.trials(TrialState.COMPLETE)
        X = encode(self.space.params, [t.params for t in done])
        Y = self._matrix(done)
        conf = Settings(**settings)
        return [importance(X, Y[:, j], self.space.params, n, method, conf)
                for j, n in enumerate(names) if objective in (None, n)]

    def _matrix(self, trials: Sequence[Trial]) -> np.ndarray:
        import numpy as np

        names = [o.name for o in self.objectives]
        return np.array([[t.values[n] for n in names] for t in trials if t.values], dtype=float).reshape(
            -1, len(names)
        )

    # ---- running ----------------------------------------------------------------------------

    def reap(self) -> list[tuple[Trial, Trial | None]]:
        """Fail RUNNING trials with an expired lease or a dead worker; re-queue them."""
        return self.store.reap(self.id, self.spec.lease.grace_s, _workers.is_dead, self.spec.max_retries)

    def optimize(self, executor: Any = None, progress: Callable[[Study, Trial], None] | None = None) -> None:
        """Run to the budget with ``executor`` (default: the spec's), recovering dead trials first."""
        from nas.executors import make_executor

        self.reap()
        ex = executor or make_executor(self.spec.executor)
        ex.run(self, progress)

    def reopen(self) -> Study:
        """A new handle on this stored study with its own connections and history snapshot:
        one per thread, since a Study is not shared across threads."""
        return load_study(self.name, self.store.url)

    def release(self) -> int:
        """Return the trials this process handed out that are still RUNNING to the queue
        (PENDING, same number), as after an interrupt; ``resume`` runs them. Returns how many."""
        return self.store.release(self.handed_out)

    def done(self) -> bool:
        return self.store.budget_left(self.id, self.budget) == 0 and not self.trials(
            [TrialState.RUNNING, TrialState.PENDING]
        )


class _Snapshot:
    """What the optimizer sees, read incrementally: finished trials never change, so each
    refresh reads only trials created since the last one plus those that were still open."""

    def __init__(self) -> None:
        self.complete: list[Trial] = []  # ordered by number
        self.open: dict[int, Trial] = {}
        self.max_id = 0
        self.max_number = -1
        self.promoted: dict[int, int] = {}  # trial id -> promotions seen

    def refresh(
        self, store: Store, study_id: int, promotes: bool = False
    ) -> tuple[list[Trial], list[Trial], int]:
        """``promotes``: the scheduler may send a STOPPED trial back to the queue, so trials
        whose promotions changed are read again (one grouped query on the steps)."""
        again: list[int] = []
        if promotes:
            counts = store.promotions(study_id)
            again = [tid for tid, k in counts.items() if self.promoted.get(tid) != k]
            self.promoted = counts
            gone = set(again)
            self.complete = [t for t in self.complete if t.id not in gone]
        fresh = store.trials_changed(study_id, self.max_id, [*self.open, *again])
        for t in fresh:
            self.max_id = max(self.max_id, t.id)
            self.max_number = max(self.max_number, t.number)
            self.open.pop(t.id, None)
            if t.state in (TrialState.COMPLETE, TrialState.STOPPED):  # STOPPED: see Optimizer
                bisect.insort(self.complete, t, key=_number)  # trials finish out of order
            elif t.state in (TrialState.RUNNING, TrialState.PENDING):
                self.open[t.id] = t
        return list(self.complete), sorted(self.open.values(), key=_number), self.max_number + 1


def _number(t: Trial) -> int:
    return t.number


def _finish_order(t: Trial) -> tuple[Any, int]:
    return (t.finished_at or t.created_at, t.number)


def _states(state: StateArg) -> list[TrialState] | None:
    if state is None:
        return None
    if isinstance(state, str | TrialState):
        state = [state]
    return [TrialState(str(s).upper()) for s in state]


def _rng(seed: int, position: int, *salt: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng([seed, position, *salt])


def create_study(spec: dict[str, Any] | StudySpec, storage: str | None = None) -> Study:
    """Validate ``spec`` and create its study, or return the stored study with the same spec.

    A budget in ``spec`` different from the stored one replaces it, unless it is smaller
    than the trials the study already counts (then :class:`BudgetError`).
    """
    spec_obj, _space, objectives = validate_study_spec(spec)
    store = Store(storage)
    objs = [ObjectiveInfo(o.name, o.direction, o.ref) for o in objectives]
    info, created = store.create_study(
        spec_obj.name, spec_obj.to_json(), spec_obj.spec_hash(), spec_obj.budget.trials, objs
    )
    if not created and info.budget != spec_obj.budget.trials:
        used = store.used_trials(info.id)
        if spec_obj.budget.trials < used:
            raise BudgetError(
                f"budget.trials={spec_obj.budget.trials} is smaller than the {used} trials study "
                f"{spec_obj.name!r} already counts (budget {info.budget}): give at least {used}, "
                f"or a new study name"
            )
        store.set_budget(info.id, spec_obj.budget.trials)
        info = store.get_study(spec_obj.name)
    study = Study(store, info, spec_obj)
    study._space = _space
    return study


def load_study(name: str, storage: str | None = None, *, readonly: bool = False) -> Study:
    """Open a stored study by name (cheap: builds no search space until one is needed).

    Never creates a database (a missing SQLite file is :class:`storage.NoDatabaseError`);
    ``readonly`` also never changes one."""
    store = Store(storage, readonly=readonly, must_exist=True)
    info = store.get_study(name)
    spec = parse_spec(json.loads(info.spec_json))
    spec.budget.trials = info.budget
    return Study(store, info, spec)
