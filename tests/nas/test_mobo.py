"""The ``mobo`` optimizer: determinism, mixed and categorical spaces, batches, constraints,
fallbacks, and that it really beats random search on ZDT1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
import torch

from nas.optimizers import _acqf, _gp
from nas.optimizers.base import Constraint, OptimizerError, Problem, make_optimizer
from nas.optimizers.mobo import MoboOptimizer
from nas.optimizers.sobol import sobol_configs
from nas.pareto import hypervolume
from nas.trial import Trial, TrialState
from search_spaces.base import Objective, make_space
from search_spaces.params import Categorical, Float, validate_config
from search_spaces.tasks.threads import torch_threads

FAST = {"mc_samples": 16, "num_restarts": 2, "raw_samples": 32, "cold_maxiter": 60, "warm_maxiter": 20}
OPS = ("none", "skip", "conv1x1", "conv3x3", "avgpool")


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """One torch thread: faster for these tiny models, and the CI box is small."""
    with torch_threads(1):
        yield


def complete(configs: list[dict[str, Any]], evaluate: Any, start: int = 0) -> list[Trial]:
    return [Trial(id=start + i, number=start + i, state=TrialState.COMPLETE, params=c, values=evaluate(c))
            for i, c in enumerate(configs)]


def running(configs: list[dict[str, Any]], start: int) -> list[Trial]:
    return [Trial(id=start + i, number=start + i, state=TrialState.RUNNING, params=c)
            for i, c in enumerate(configs)]


def synthetic(problem: str, **options: Any) -> tuple[Problem, Any]:
    space = make_space("synthetic", {"problem": problem, **options})
    return Problem(space.params, space.objectives), lambda c: space.evaluate(c, None).values


def cell_problem() -> tuple[Problem, Any]:
    """Six edges, five operations each; error falls with conv3x3 count, cost rises."""
    params = {f"e{i}": Categorical(OPS) for i in range(6)}
    quality = {"none": 0.0, "skip": 0.2, "conv1x1": 0.5, "conv3x3": 1.0, "avgpool": 0.3}
    cost = {"none": 0.0, "skip": 0.0, "conv1x1": 1.0, "conv3x3": 9.0, "avgpool": 0.1}

    def evaluate(c: dict[str, Any]) -> dict[str, float]:
        s = sum(quality[c[f"e{i}"]] * (1 + 0.5 * (i % 2)) for i in range(6))
        return {"error": float(np.exp(-0.5 * s)), "cost": sum(cost[c[f"e{i}"]] for i in range(6))}

    return Problem(params, [Objective("error", "min", 1.0), Objective("cost", "min", 60.0)]), evaluate


def initial(problem: Problem, evaluate: Any, n: int, seed: int = 0) -> list[Trial]:
    return complete(sobol_configs(problem.params, seed, 0, n), evaluate)


def test_same_seed_and_history_give_same_proposals_also_in_a_fresh_process() -> None:
    problem, evaluate = synthetic("branincurrin")
    history = initial(problem, evaluate, 8)
    opt = make_optimizer("mobo", problem, seed=3, **FAST)
    first = opt.propose(history, [], 2, np.random.default_rng(7))
    again = make_optimizer("mobo", problem, seed=3, **FAST).propose(history, [], 2, np.random.default_rng(7))
    assert first == again
    assert opt.last_info["strategy"] == "qLogNEHVI"
    script = textwrap.dedent("""
        import json, numpy as np, torch
        torch.set_num_threads(1)
        from nas.optimizers.base import make_optimizer
        from tests.nas.test_mobo import FAST, initial, synthetic
        problem, evaluate = synthetic("branincurrin")
        opt = make_optimizer("mobo", problem, seed=3, **FAST)
        print(json.dumps(opt.propose(initial(problem, evaluate, 8), [], 2, np.random.default_rng(7))))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == first


def test_first_trials_come_from_sobol_then_the_model() -> None:
    problem, evaluate = synthetic("zdt1", dim=3)
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    assert opt.n_initial == 8
    assert opt.propose([], [], 4, np.random.default_rng(0)) == sobol_configs(problem.params, 0, 0, 4)
    assert opt.last_info["strategy"] == "sobol"
    opt.propose(initial(problem, evaluate, 8), [], 1, np.random.default_rng(0))
    assert opt.last_info["strategy"] == "qLogNEHVI"


def test_purely_categorical_space_never_repeats_a_configuration_and_improves() -> None:
    problem, evaluate = cell_problem()
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    history = complete(sobol_configs(problem.params, 0, 0, 14), evaluate)
    pending = running(sobol_configs(problem.params, 0, 14, 2), 14)
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = opt.propose(history, pending, 4, rng)
        assert opt.last_info["acq_optimizer"] == "local_search"
        assert opt.last_info["strategy"] == "LogEHVI"
        assert not opt.last_info["fallbacks"]
        keys = [tuple(c.values()) for c in batch]
        known = {tuple(t.params.values()) for t in [*history, *pending]}
        assert len(set(keys)) == 4 and not set(keys) & known
        history += complete(batch, evaluate, start=len(history) + len(pending))
    Y = np.array([[t.values["error"], t.values["cost"]] for t in history])
    ref = np.array([1.0, 60.0])
    assert hypervolume(Y, ref) > hypervolume(Y[:14], ref)


def test_mixed_space_proposes_valid_configurations() -> None:
    problem, evaluate = synthetic("mixed")
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    history = initial(problem, evaluate, 12)
    batch = opt.propose(history, [], 3, np.random.default_rng(0))
    assert opt.last_info["acq_optimizer"] == "local_search"
    assert opt.last_info["strategy"] == "LogEHVI"
    for c in batch:
        assert validate_config(problem.params, c) == c
        assert isinstance(c["n"], int) and c["op"] in ("a", "b", "c", "d")
    assert len({json.dumps(c, sort_keys=True) for c in batch}) == 3


def test_batch_is_distinct_diverse_and_excludes_running_trials() -> None:
    problem, evaluate = synthetic("zdt1", dim=3)
    history = initial(problem, evaluate, 12)
    pending = running(sobol_configs(problem.params, 0, 12, 3), 12)
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    batch = opt.propose(history, pending, 4, np.random.default_rng(1))
    X = np.array([[c[k] for k in problem.params] for c in batch])
    P = np.array([[t.params[k] for k in problem.params] for t in pending])
    pairwise = np.linalg.norm(X[:, None] - X[None], axis=-1)[np.triu_indices(4, 1)]
    assert pairwise.min() > 1e-3
    assert np.linalg.norm(X[:, None] - P[None], axis=-1).min() > 1e-3


def test_outcome_constraint_is_modelled_and_steers_proposals() -> None:
    # ZDT1: f1 = x0. Demand f1 <= 0.3 and a "params" metric (reported in metrics) <= 5.
    problem, evaluate = synthetic("zdt1", dim=3)
    problem = Problem(problem.params, problem.objectives,
                      [Constraint("f1", upper=0.3), Constraint("params", upper=5.0)])
    history = [Trial(id=t.id, number=t.number, state=t.state, params=t.params, values=t.values,
                     metrics={"params": 10 * t.params["x1"]})
               for t in initial(problem, evaluate, 16)]
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    batch = opt.propose(history, [], 4, np.random.default_rng(0))
    assert opt.last_info["fit"] and len(opt.last_info["fit"]) == 4  # 2 objectives + 2 constraints
    feasible = [c["x0"] <= 0.35 and c["x1"] <= 0.55 for c in batch]
    assert sum(feasible) >= 3


def test_reference_point_from_spec_or_inferred() -> None:
    problem, evaluate = synthetic("zdt1", dim=3)
    history = initial(problem, evaluate, 8)
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    opt.propose(history, [], 1, np.random.default_rng(0))
    assert opt.last_info["ref_point"] == [11.0, 11.0]
    no_ref = Problem(problem.params, [Objective(o.name, o.direction) for o in problem.objectives])
    opt = make_optimizer("mobo", no_ref, seed=0, **FAST)
    opt.propose(history, [], 1, np.random.default_rng(0))
    Y = np.array([[t.values["f1"], t.values["f2"]] for t in history])
    expected = Y.max(0) + 0.1 * (Y.max(0) - Y.min(0))
    assert opt.last_info["ref_point"] == pytest.approx(expected.tolist())


def test_maximized_objective_is_the_mirror_of_its_minimized_negative() -> None:
    problem, evaluate = synthetic("zdt1", dim=3)
    history = initial(problem, evaluate, 8)
    flipped = Problem(problem.params, [problem.objectives[0], Objective("f2", "max", -11.0)])
    negated = [Trial(id=t.id, number=t.number, state=t.state, params=t.params,
                     values={"f1": t.values["f1"], "f2": -t.values["f2"]}) for t in history]
    a = make_optimizer("mobo", problem, seed=0, **FAST).propose(history, [], 2, np.random.default_rng(0))
    b = make_optimizer("mobo", flipped, seed=0, **FAST).propose(negated, [], 2, np.random.default_rng(0))
    assert a == b


def test_more_than_three_objectives_use_parego() -> None:
    problem, evaluate = synthetic("dtlz2", dim=5, n_obj=4)
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    batch = opt.propose(initial(problem, evaluate, 12), [], 2, np.random.default_rng(0))
    assert opt.last_info["strategy"] == "qLogNParEGO" and len(batch) == 2 and batch[0] != batch[1]


def test_failed_gp_fit_is_recorded_and_logged(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise _gp.ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(_gp, "fit_gpytorch_mll", broken)
    problem, evaluate = synthetic("zdt1", dim=3)
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    with caplog.at_level(logging.WARNING, logger="nas.optimizers.mobo"):
        batch = opt.propose(initial(problem, evaluate, 8), [], 2, np.random.default_rng(0))
    assert len(batch) == 2
    assert opt.last_info["strategy"] == "qLogNEHVI"
    assert [f["fallback"] for f in opt.last_info["fallbacks"]] == ["unfitted_hyperparameters"] * 2
    assert "ModelFittingError" in opt.last_info["fallbacks"][0]["reason"]
    assert "GP fit for 'f1' failed" in caplog.text


def test_failed_acquisition_falls_back_to_sobol_loudly(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from botorch.exceptions.errors import CandidateGenerationError

    from nas.optimizers import _acqf

    def broken(*args: Any, **kwargs: Any) -> None:
        raise CandidateGenerationError("no feasible starting point")

    monkeypatch.setattr(_acqf, "optimize", broken)
    problem, evaluate = synthetic("zdt1", dim=3)
    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    with caplog.at_level(logging.WARNING, logger="nas.optimizers.mobo"):
        batch = opt.propose(initial(problem, evaluate, 8), [], 2, np.random.default_rng(0))
    assert batch == sobol_configs(problem.params, 0, 8, 2)
    assert opt.last_info["strategy"] == "sobol"
    assert "CandidateGenerationError" in opt.last_info["fallbacks"][0]["reason"]
    assert "falling back to Sobol" in caplog.text


def test_bad_options_fail_early_with_the_name() -> None:
    problem, _ = synthetic("zdt1", dim=3)
    with pytest.raises(OptimizerError, match=r"unknown option.*n_init"):
        MoboOptimizer(problem, n_init=3)
    with pytest.raises(OptimizerError, match="mc_samples=0"):
        MoboOptimizer(problem, mc_samples=0)
    with pytest.raises(OptimizerError, match=r"ideal_margin=-0\.1"):
        MoboOptimizer(problem, ideal_margin=-0.1)
    with pytest.raises(OptimizerError, match="acq_maxiter=0"):
        MoboOptimizer(problem, acq_maxiter=0)


def test_acquisition_gives_no_credit_past_the_observed_ideal() -> None:
    # Observed (maximization): objective 0 in [-1, 0], objective 1 in [-8, -2].
    Y = torch.tensor([[0.0, -8.0], [-1.0, -2.0], [-0.5, -5.0]], dtype=torch.double)
    caps = _acqf.objective_caps(Y, 0.0)
    assert caps is not None and caps[0].tolist() == [0.0, -2.0]
    objective = _acqf.ClampedObjective(*caps)
    samples = torch.tensor([[[5.0, 10.0, 123.0], [-0.6, -6.0, 1.0]]], dtype=torch.double)  # 3rd: a constraint
    out = objective(samples)
    assert out.shape == (1, 2, 2)
    assert out[0, 0].tolist() == pytest.approx([0.0, -2.0])  # far past the best: the best
    assert out[0, 1].tolist() == pytest.approx([-0.6, -6.0], abs=1e-6)  # inside: unchanged
    assert _acqf.objective_caps(Y, float("inf")) is None


def test_warm_start_anchors_and_fit_cap() -> None:
    assert [_gp.anchor_size(n, 8) for n in (3, 8, 11, 12, 17, 18, 100)] == [3, 8, 8, 12, 12, 18, 93]
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 3.0], [0.5, 0.5]])
    keep = _gp.fit_subset(Y, np.ones(5, bool), np.arange(5), 3)
    assert keep.tolist() == [0, 1, 4]  # the non-dominated layer


def test_cached_hyperparameters_do_not_change_proposals() -> None:
    problem, evaluate = synthetic("zdt1", dim=3)
    history = initial(problem, evaluate, 12)
    warm = make_optimizer("mobo", problem, seed=0, **FAST)
    warm.propose(history[:10], [], 1, np.random.default_rng(0))  # fills the cache
    a = warm.propose(history, [], 2, np.random.default_rng(5))
    b = make_optimizer("mobo", problem, seed=0, **FAST).propose(history, [], 2, np.random.default_rng(5))
    assert a == b


def test_zdt1_median_hypervolume_after_30_evaluations_beats_random() -> None:
    problem, evaluate = synthetic("zdt1", dim=6)
    ref = np.array([11.0, 11.0])
    ours, rand = [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        opt = make_optimizer("mobo", problem, seed=seed, mc_samples=32, num_restarts=3, raw_samples=64,
                             warm_maxiter=30)
        history: list[Trial] = []
        while len(history) < 30:
            history += complete(opt.propose(history, [], 4, rng)[: 30 - len(history)], evaluate, len(history))
        ours.append(hypervolume(np.array([[t.values["f1"], t.values["f2"]] for t in history]), ref))
        random_opt = make_optimizer("random", problem, seed=seed)
        configs = random_opt.propose([], [], 30, np.random.default_rng(seed))
        rand.append(hypervolume(np.array([[evaluate(c)["f1"], evaluate(c)["f2"]] for c in configs]), ref))
    assert np.median(ours) > np.median(rand) + 1.0


def test_fit_set_prefers_feasible_front_layers_then_recent_trials() -> None:
    rng = np.random.default_rng(0)
    Y = rng.random((300, 2))
    feasible = np.arange(300) % 3 != 0
    keep = _gp.fit_subset(Y, feasible, np.arange(300), 50)
    assert len(keep) == 50 and feasible[keep].all()
    front = np.flatnonzero(feasible)[_gp.pareto_layers(Y[feasible]) == 0]
    assert set(front) <= set(keep.tolist())


def test_model_trains_on_at_most_max_fit_points() -> None:
    problem, evaluate = synthetic("zdt1", dim=3)
    opt = make_optimizer("mobo", problem, seed=0, max_fit_points=12, **FAST)
    opt.propose(initial(problem, evaluate, 30), [], 1, np.random.default_rng(0))
    assert opt.last_info["n_train"] == 30 and opt.last_info["n_fit"] == 12


def test_acquisition_optimiser_work_per_point_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import botorch.generation.gen as gen

    runs: list[int] = []
    batched = gen.fmin_l_bfgs_b_batched

    def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        calls = [0]

        def f(*a: Any, **k: Any) -> Any:
            calls[0] += 1
            return func(*a, **k)

        out = batched(f, *args, **kwargs)
        runs.append(calls[0])
        return out

    monkeypatch.setattr(gen, "fmin_l_bfgs_b_batched", counting)
    problem, evaluate = synthetic("zdt1", dim=3)
    opt = make_optimizer("mobo", problem, seed=0, **{**FAST, "acq_maxiter": 3})
    opt.propose(initial(problem, evaluate, 12), [], 3, np.random.default_rng(0))
    assert len(runs) == 3  # one L-BFGS-B run per point: a step is never redone from new starts
    assert max(runs) <= 1 + 3 * (_acqf.LBFGS_MAXLS + 1)


def test_mixed_space_proposal_time_has_not_regressed_tenfold() -> None:
    """A guard, not a benchmark (``benchmarks/optimizers.py --proposal-time`` times it):
    the README's ``custom`` space (log float, int, categorical; two objectives) at 20 and
    then 21 observations with default options. The clock is this process's CPU time, so a
    busy machine does not fail the test. Measured 3.4 s (the process's first fit, imports
    of its lazy modules included) and 0.44 s of CPU time (one torch thread, 2-core machine);
    the bounds are about 10x that (the code before the analytic path took 6.4 s and 2.4 s)."""
    import time

    from search_spaces.params import Float, Int

    params = {"lr": Float(1e-5, 1e-1, log=True), "layers": Int(2, 12), "op": Categorical(("a", "b", "c"))}
    problem = Problem(params, [Objective("acc", "max", 0.0), Objective("params", "min", 40.0)])

    def evaluate(c: dict[str, Any]) -> dict[str, float]:
        acc = 1 - 0.1 * (np.log10(c["lr"]) + 3) ** 2 - 0.05 * "abc".index(c["op"]) - np.exp(-c["layers"] / 4)
        return {"acc": float(acc), "params": float(c["layers"] * (1 + "abc".index(c["op"])))}

    history = complete(sobol_configs(params, 1, 0, 21), evaluate)
    opt = make_optimizer("mobo", problem, seed=0)
    seconds = []
    for n in (20, 21):  # the first pays a cold fit; the second warm-starts from it
        t0 = time.process_time()
        opt.propose(history[:n], [], 1, np.random.default_rng(n))
        seconds.append(time.process_time() - t0)
    assert opt.last_info["strategy"] == "LogEHVI"
    assert seconds[0] < 35.0 and seconds[1] < 5.0, seconds


def _mixed_run(monkeypatch: Any, raise_by: float) -> np.ndarray:
    from nas.optimizers import _analytic

    monkeypatch.setattr(_analytic, "FRONT_RAISE", raise_by)
    problem, evaluate = synthetic("mixed")
    opt = make_optimizer("mobo", problem, seed=0)
    history = initial(problem, evaluate, 10)
    rng = np.random.default_rng(0)
    while len(history) < 34:
        history += complete(opt.propose(history, [], 4, rng), evaluate, start=len(history))
    assert opt.last_info["strategy"] == "LogEHVI"
    return np.array([t.values["f1"] for t in history[10:]])


def test_mixed_space_proposals_do_not_pile_up_at_an_end_of_the_front(monkeypatch: Any) -> None:
    """Against the observed front, the model's noise alone promised a gain at each end of
    it (a strip as long as the reference box) and most proposals went to f1 = 1; the front
    raised by two posterior standard deviations spreads them. Both runs are checked, so
    the test fails if the raise stops mattering."""
    raised, flat = _mixed_run(monkeypatch, 2.0), _mixed_run(monkeypatch, 0.0)
    assert np.mean(raised > 0.99) <= 0.25, raised
    assert np.mean(flat > 0.99) > np.mean(raised > 0.99), (flat, raised)


@pytest.mark.parametrize("space", ["continuous", "mixed"])
def test_one_objective_is_optimised_by_expected_improvement(space: str) -> None:
    """Hypervolume needs two objectives; with one, continuous spaces use qLogNEI and the
    analytic path its one-dimensional case (EI). Both used to raise inside BoTorch."""
    params: dict[str, Any] = {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}
    if space == "mixed":
        params["op"] = Categorical(("a", "b", "c"))
    problem = Problem(params, [Objective("loss", "min", 10.0)])

    def evaluate(c: dict[str, Any]) -> dict[str, float]:
        return {"loss": (c["x"] - 0.3) ** 2 + (c["y"] - 0.7) ** 2 + 0.2 * "abc".index(c.get("op", "a"))}

    opt = make_optimizer("mobo", problem, seed=0, **FAST)
    history = initial(problem, evaluate, 8)
    rng = np.random.default_rng(0)
    for _ in range(4):
        history += complete(opt.propose(history, [], 2, rng), evaluate, start=len(history))
        assert not opt.last_info["fallbacks"]
    assert opt.last_info["strategy"] == ("qLogNEI" if space == "continuous" else "LogEHVI")
    best = min(t.values["loss"] for t in history)
    assert best < 0.5 * min(t.values["loss"] for t in history[:8])
