"""Ray Tune with our searcher: Tune runs the trials, our optimizer proposes, our store records."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nas import TrialState, create_study, load_study
from nas.pareto import non_dominated_mask, signs
from nas.tune import NasSearcher, trainable
from tests.helpers import zdt_spec


def _tuner(study, searcher, tmp_path, fn=None):
    from ray import tune

    return tune.Tuner(
        fn or trainable(study),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1, max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), verbose=0),
    )


def test_tuner_with_our_searcher_fills_the_store_and_the_pareto_front_reads_back(
    storage_url, study_name, tmp_path, ray_session
):
    study = create_study(zdt_spec(study_name, trials=8, optimizer="sobol"), storage=storage_url)
    results = _tuner(study, NasSearcher(study), tmp_path).fit()
    assert len(results) == 8 and not results.errors  # the searcher stops Tune at the study's budget

    stored = load_study(study_name, storage_url)
    done = stored.trials(TrialState.COMPLETE)
    assert len(done) == 8 and stored.done()
    Y = np.array([[t.values["f1"], t.values["f2"]] for t in done])
    expected = {done[i].number for i in np.flatnonzero(non_dominated_mask(Y * signs(stored.directions)))}
    assert {t.number for t in stored.pareto_front()} == expected
    tune_f1 = sorted(r.metrics["f1"] for r in results)
    assert tune_f1 == pytest.approx(sorted(t.values["f1"] for t in done))


def test_tune_results_with_a_nan_objective_fail_the_trial_with_the_reason(study_name, tmp_path, ray_session):
    study = create_study(zdt_spec(study_name, trials=2), storage=f"sqlite:///{tmp_path}/nas.db")

    def nan_f2(config):
        from ray import tune

        tune.report({"f1": config["x0"], "f2": float("nan")})

    _tuner(study, NasSearcher(study.name, study.store.url), tmp_path, nan_f2).fit()
    failed = load_study(study_name, study.store.url).trials(TrialState.FAILED)
    assert len(failed) == 2 and all("'f2' is nan" in (t.error or "") for t in failed)


def test_searcher_pickles_without_its_database_connection(study_name, tmp_path):
    study = create_study(zdt_spec(study_name, trials=2), storage=f"sqlite:///{tmp_path}/nas.db")
    s = NasSearcher(study)
    s.suggest("t1")
    copy = pickle.loads(pickle.dumps(s))
    assert copy.get_state() == s.get_state() and copy.study.name == study_name
    assert copy.metric == ["f1", "f2"] and copy.mode == ["min", "min"]
