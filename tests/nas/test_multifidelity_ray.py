"""Multi-fidelity on the Ray executor: workers store their steps and MO-ASHA decides from
the database, with two trials reporting at once."""

from __future__ import annotations

from nas import create_study
from nas.executors.ray import RayExecutor
from storage import TrialState
from tests.fixtures.curves import MAX_STEP
from tests.nas.test_multifidelity import _check_decisions, _check_no_stop_would_continue, _spec


def test_ray_workers_report_steps_and_moasha_stops_trials(tmp_path, study_name, ray_session):
    study = create_study(_spec(study_name, "curves:slow", trials=12), storage=f"sqlite:///{tmp_path}/r.db")
    study.optimize(RayExecutor(workers=2))
    trials = study.trials()
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.STOPPED} and len(trials) == 12
    assert all(t.last_step == MAX_STEP for t in trials if t.state == TrialState.COMPLETE)
    assert all(not t.is_pareto for t in trials if t.state == TrialState.STOPPED)
    _check_decisions(study)


def test_ray_workers_promote_stopped_trials_and_leave_no_stop_that_would_continue(tmp_path, study_name, ray_session):
    scheduler = {"name": "moasha", "max_step": MAX_STEP, "eta": 3, "promote": True}
    spec = _spec(study_name, "curves:slow", trials=12, scheduler=scheduler)
    study = create_study(spec, storage=f"sqlite:///{tmp_path}/p.db")
    study.optimize(RayExecutor(workers=2))
    trials = study.trials()
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.STOPPED} and study.used() == 12
    for t in trials:  # a promoted trial ran again from step 1; no step is stored twice
        assert [s.step for s in study.store.steps(t.id)] == list(range(1, t.last_step + 1))
    _check_no_stop_would_continue(study)
