"""Study API: ask/tell, Pareto fronts, hypervolume, optimize to budget, failures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nas import TellError, TrialState, create_study, load_study
from nas.pareto import hypervolume, non_dominated_mask, signs
from tests.helpers import zdt_spec


def _custom(name: str, evaluator: str | None = None, directions=("min", "min"), **extra) -> dict:
    space = {"name": "custom", "params": {"x0": {"type": "float", "low": 0, "high": 1},
                                          "x1": {"type": "float", "low": 0, "high": 1}}}
    if evaluator:
        space["evaluator"] = evaluator
    spec = {"name": name, "space": space, "budget": {"trials": 12}, "optimizer": {"name": "random", "seed": 3},
            "executor": {"name": "local"},
            "objectives": [{"name": "f1", "direction": directions[0]}, {"name": "f2", "direction": directions[1]}]}
    spec.update(extra)
    return spec


def test_ask_tell_round_trip_and_the_design_md_example(storage_url, study_name):
    study = create_study(zdt_spec(study_name), storage=storage_url)
    trials = study.ask(4)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(set(t.params) == {"x0", "x1", "x2", "x3"} for t in trials)
    study.tell(trials[0], values={"f1": 0.3, "f2": 0.7})
    study.tell(trials[1], error="diverged")
    study.tell(trials[2].number, values={"f1": 0.2, "f2": 0.9})
    front = study.pareto_front()
    assert {t.number for t in front} == {0, 2}
    assert front[0].values == {"f1": 0.3, "f2": 0.7}
    again = load_study(study_name, storage=storage_url)
    assert [t.number for t in again.trials(TrialState.FAILED)] == [1]
    assert [t.number for t in again.trials("running")] == [3]
    assert again.trials(TrialState.FAILED)[0].error == "diverged"


def test_tell_rejects_missing_unknown_and_non_finite_values(storage_url, study_name):
    study = create_study(zdt_spec(study_name), storage=storage_url)
    (t,) = study.ask(1)
    for bad, word in (({"f1": 1.0}, "missing"), ({"f1": 1, "f2": 2, "f3": 3}, "unknown"),
                      ({"f1": float("nan"), "f2": 1}, "finite"), ({"f1": "a", "f2": 1}, "not a number")):
        with pytest.raises(TellError, match=word):
            study.tell(t, values=bad)
    assert study.trials()[0].state == TrialState.RUNNING


def test_pareto_front_and_hypervolume_respect_mixed_directions(storage_url, study_name):
    study = create_study(_custom(study_name, directions=("max", "min"), budget={"trials": 30}), storage=storage_url)
    rng = np.random.default_rng(0)
    values = rng.random((30, 2))
    for t, v in zip(study.ask(30), values, strict=True):
        study.tell(t, values={"f1": float(v[0]), "f2": float(v[1])})
    Y = values * signs(["max", "min"])
    expect = set(np.flatnonzero(non_dominated_mask(Y)).tolist())
    assert {t.number for t in study.pareto_front()} == expect
    hist = study.hypervolume_history()
    hv = [h for _, h in hist]
    assert len(hist) == 30 and all(b >= a for a, b in itertools.pairwise(hv))
    ref = np.array(study.reference_point()) * signs(["max", "min"])
    assert hv[-1] == pytest.approx(hypervolume(Y, ref))


def test_optimize_runs_exactly_the_budget_and_records_failures(storage_url, study_name):
    study = create_study(_custom(study_name, "tests.fixtures.evaluators:zdt_like"), storage=storage_url)
    seen = []
    study.optimize(progress=lambda s, t: seen.append(t.number))
    done = study.trials(TrialState.COMPLETE)
    assert len(done) == 12 and sorted(seen) == list(range(12))
    assert done[0].metrics["extra"] == 42 and "eval_s" in done[0].metrics
    study.optimize()  # already at budget: nothing more runs
    assert len(study.trials()) == 12


@pytest.mark.parametrize("evaluator,words", [
    ("tests.fixtures.evaluators:raises", ["RuntimeError", "diverged at x0="]),
    ("tests.fixtures.evaluators:nan", ["f1", "finite"]),
    ("tests.fixtures.evaluators:missing", ["no value for objective", "f2"]),
    ("tests.fixtures.nowhere:fn", ["cannot import module", "tests.fixtures.nowhere"]),
])
def test_a_failing_evaluation_is_recorded_and_the_study_goes_on(tmp_path, study_name, evaluator, words):
    url = f"sqlite:///{tmp_path}/f.db"
    spec = _custom(study_name, evaluator, budget={"trials": 3})
    study = create_study(spec, storage=url)
    study.optimize()
    failed = study.trials(TrialState.FAILED)
    assert len(failed) == 3
    for w in words:
        assert w in failed[0].error


def test_constraints_keep_infeasible_trials_off_the_front(storage_url, study_name):
    spec = _custom(study_name, constraints=[{"metric": "cost", "<=": 1.0}])
    study = create_study(spec, storage=storage_url)
    a, b = study.ask(2)
    study.tell(a, values={"f1": 0.0, "f2": 0.0}, metrics={"cost": 5.0})
    study.tell(b, values={"f1": 1.0, "f2": 1.0}, metrics={"cost": 0.5})
    assert [t.number for t in study.pareto_front()] == [b.number]
    assert not study.trials()[0].feasible
    (c,) = study.ask(1)
    with pytest.raises(TellError, match="cost"):
        study.tell(c, values={"f1": 0.5, "f2": 0.5})


def test_reap_requeues_a_trial_whose_worker_died(storage_url, study_name):
    study = create_study(zdt_spec(study_name, trials=3), storage=storage_url)
    (t,) = study.ask(1, worker_id="ghost-host:1:1")  # another host: only its heartbeat can tell
    assert study.reap() == []
    (dead,) = study.ask(1, worker_id=f"{__import__('socket').gethostname()}:999999:1")
    ((failed, retry),) = study.reap()
    assert failed.number == dead.number and retry.params == dead.params
    study.tell(t, values={"f1": 1.0, "f2": 1.0})
    study.optimize()
    assert len(study.trials(TrialState.COMPLETE)) == 3
    assert study.trials(TrialState.RUNNING) == [] and study.trials(TrialState.PENDING) == []


def test_same_seed_gives_the_same_proposals(tmp_path):
    a = create_study(zdt_spec("a", optimizer="sobol"), storage=f"sqlite:///{tmp_path}/a.db")
    b = create_study(zdt_spec("a", optimizer="sobol"), storage=f"sqlite:///{tmp_path}/b.db")
    assert [t.params for t in a.ask(3)] == [t.params for t in b.ask(3)]
    r1 = create_study(zdt_spec("r"), storage=f"sqlite:///{tmp_path}/a.db")
    r2 = create_study(zdt_spec("r"), storage=f"sqlite:///{tmp_path}/b.db")
    assert [t.params for t in r1.ask(2)] == [t.params for t in r2.ask(2)]


def test_objectives_the_study_does_not_optimize_are_kept_as_metrics(tmp_path):
    spec = {"name": "sub", "space": {"name": "synthetic", "options": {"problem": "dtlz2", "dim": 4, "n_obj": 3}},
            "objectives": [{"name": "f1"}, {"name": "f3"}], "optimizer": {"name": "random"},
            "budget": {"trials": 3}, "executor": {"name": "local"}}
    study = create_study(spec, storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize()
    done = study.trials(TrialState.COMPLETE)
    assert len(done) == 3 and set(done[0].values) == {"f1", "f3"} and "f2" in done[0].metrics


def _ask_tell_loop(url: str, name: str, n: int) -> None:
    study = load_study(name, storage=url)
    for _ in range(n):
        for t in study.ask(1, budget=study.budget):
            study.tell(t, values={"f1": t.params["x0"], "f2": t.params["x1"]})


def test_two_drivers_asking_at_once_never_get_the_same_proposal(storage_url, study_name):
    import multiprocessing as mp

    create_study(_custom(study_name, budget={"trials": 60}), storage=storage_url)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_ask_tell_loop, args=(storage_url, study_name, 30)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    trials = load_study(study_name, storage=storage_url).trials()
    assert len(trials) == 60 and all(t.state == TrialState.COMPLETE for t in trials)
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == 60, "two drivers proposed the same configuration"
