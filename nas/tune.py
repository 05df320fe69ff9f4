"""Ray Tune users: a ``Searcher`` that proposes with this project's optimizer and records
every result into its store, so the study (and its Pareto front) lives in SQL.

::

    from ray import tune
    from nas import create_study
    from nas.tune import NasSearcher, trainable

    study = create_study(spec, storage="sqlite:///nas.db")
    tuner = tune.Tuner(
        trainable(study),                       # or your own function that calls tune.report
        tune_config=tune.TuneConfig(search_alg=NasSearcher(study), num_samples=study.budget),
    )
    tuner.fit()
    study.pareto_front()

Each Tune trial is one of our trials: ``suggest`` asks the study (within its budget),
``on_trial_complete`` tells it the reported objective values (a missing or non-finite
value, or a Tune error, records the trial FAILED with the reason). Intermediate results
refresh the trial's heartbeat. Several objectives are fine: the searcher's ``metric`` and
``mode`` are the study's objective names and directions.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ray.tune.search import Searcher

from nas import _workers
from nas.study import TellError, load_study
from storage import StoreError, Trial

if TYPE_CHECKING:
    from nas.study import Study

log = logging.getLogger(__name__)

__all__ = ["NasSearcher", "trainable"]


class NasSearcher(Searcher):
    """A Tune ``Searcher`` backed by a stored study: ``NasSearcher(study)`` or ``NasSearcher(name, storage)``."""

    def __init__(self, study: Study | str, storage: str | None = None) -> None:
        from nas.executors.base import absolute_url

        if isinstance(study, str):
            self._name, self._url, self._study = study, absolute_url(storage or ""), None
            if not storage:
                raise ValueError("NasSearcher(name, storage): give the storage URL of study " + repr(study))
        else:
            self._name, self._url, self._study = study.name, absolute_url(study.store.url), study
        self._trials: dict[str, Trial] = {}  # Tune trial id -> our trial
        objs = self.study.objectives
        metric: str | list[str] = [o.name for o in objs]
        mode: str | list[str] = [o.direction for o in objs]
        if len(objs) == 1:
            metric, mode = metric[0], mode[0]
        super().__init__(metric=metric, mode=mode)

    @property
    def study(self) -> Study:
        if self._study is None:
            self._study = load_study(self._name, self._url)
        return self._study

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """The study's objectives and space govern; Tune's own ``metric``/``mode`` must name an objective."""
        names = [o.name for o in self.study.objectives]
        if metric and metric not in names:
            raise ValueError(f"TuneConfig(metric={metric!r}) is not an objective of study {self._name!r} ({names}): "
                             "leave metric/mode unset, the searcher optimizes the study's objectives")
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        study = self.study
        trials = study.ask(1, worker_id=_workers.worker_id(), budget=study.budget)
        if not trials:
            return Searcher.FINISHED
        self._trials[trial_id] = trials[0]
        return dict(trials[0].params)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        trial = self._trials.get(trial_id)
        if trial is not None:
            self.study.store.heartbeat(trial.id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        tid = self._trials.pop(trial_id, None)  # the Trial itself: an int would be read as a number
        if tid is None:
            return
        study = self.study
        names = [o.name for o in study.objectives]
        try:
            if error or not result:
                study.tell(tid, error=f"Ray Tune trial {trial_id} {'errored' if error else 'reported no result'}")
                return
            metrics = {"tune_trial_id": trial_id}
            metrics.update({k: result[k] for k in ("training_iteration", "time_total_s") if k in result})
            try:
                study.tell(tid, values={n: result[n] for n in names if n in result}, metrics=metrics)
            except TellError as e:
                study.tell(tid, error=f"Ray Tune trial {trial_id}: {e}", metrics=metrics)
        except StoreError as e:  # e.g. the lease expired and the trial was re-queued meanwhile
            log.warning("result of Tune trial %s not recorded: %s", trial_id, e)

    # Tune pickles its searcher (experiment checkpoints): keep the state, not the connection.

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_study": None}

    def get_state(self) -> dict[str, Any]:
        return {"name": self._name, "url": self._url, "trials": dict(self._trials)}

    def set_state(self, state: dict[str, Any]) -> None:
        self._name, self._url, self._trials, self._study = state["name"], state["url"], dict(state["trials"]), None

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))


def trainable(study: Study) -> Callable[[dict[str, Any]], None]:
    """A Tune function trainable that evaluates a config with ``study``'s search space
    and reports its objective values (and numeric metrics)."""
    from nas.executors.base import absolute_url

    url, name, seed = absolute_url(study.store.url), study.name, study.spec.optimizer.seed

    def evaluate(config: dict[str, Any]) -> None:
        from ray import tune

        from nas.worker import cached_study
        from search_spaces.base import EvalContext

        ev = cached_study(url, name).space.evaluate(dict(config), EvalContext(seed=seed))
        extra = {k: v for k, v in ev.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        tune.report({**extra, **ev.values})

    return evaluate
