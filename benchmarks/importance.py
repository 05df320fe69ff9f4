"""Sobol indices from a study's GP surrogate against analytic values and against peers.

Problems with analytic first-order (S1) and total (ST) indices: Ishigami (a=7, b=0.1,
3 inputs), Sobol's G-function (8 inputs, a = 1, 2, 3, 5, 7, 10, 15, 25) and a 6-input
function with a pure interaction (``0.5x1 + 2x2 + 1.5x3 + 3x3x4 + 0.7x5² + 0·x6`` on
[-1, 1]^6). At each evaluation budget and seed the same scrambled-Sobol points feed

* ``ours`` (``nas.importance``, method sobol, default settings) and ``ours_fanova``;
* Optuna's ``FanovaImportanceEvaluator`` and ``PedAnovaImportanceEvaluator`` (their numbers
  are not Sobol indices, so they are compared by Spearman rank correlation with analytic ST);

while ``salib_raw`` spends the same budget on a Saltelli design of the true function
(N = budget // (d+2)) and runs SALib's estimator on those raw evaluations.

Reported per problem and budget: median over seeds of the mean absolute error of all S1
and ST values (Sobol methods only) and of the ST rank correlation.

``--hawq N`` also runs a ``hawq`` study of N random trials and compares the ranking of
layers by ST of ``accuracy`` with the per-layer Hessian report (Ω at the lowest width and
the average trace Tr(H)/n), by Spearman correlation.

    .venv/bin/python -m benchmarks.importance --seeds 5   # as a module: benchmarks/storage.py would shadow storage
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import qmc, spearmanr

from nas.importance import Settings, importance
from search_spaces.params import Float

OUT = Path(__file__).parent / "results" / "importance.json"
BUDGETS = (50, 100, 200)


@dataclass(frozen=True)
class Problem:
    name: str
    low: float
    high: float
    f: Callable[[np.ndarray], np.ndarray]
    s1: np.ndarray
    st: np.ndarray

    @property
    def d(self) -> int:
        return len(self.s1)


def ishigami(a: float = 7.0, b: float = 0.1) -> Problem:
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return Problem(
        "ishigami",
        -np.pi,
        np.pi,
        lambda x: np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0]),
        np.array([v1, v2, 0]) / v,
        np.array([v1 + v13, v2, v13]) / v,
    )


def g_function(a: tuple[float, ...] = (1, 2, 3, 5, 7, 10, 15, 25)) -> Problem:
    aa = np.asarray(a, dtype=float)
    vi = 1 / (3 * (1 + aa) ** 2)
    v = np.prod(1 + vi) - 1
    st = np.array([vi[i] * np.prod(np.delete(1 + vi, i)) for i in range(len(aa))]) / v
    return Problem("g_function", 0.0, 1.0, lambda x: np.prod((np.abs(4 * x - 2) + aa) / (1 + aa), axis=1), vi / v, st)


def interaction6() -> Problem:
    """On [-1, 1]: Var(x) = 1/3, Var(x²) = 4/45, Var(x3·x4) = 1/9 (no main effect)."""
    parts = {"x1": 0.25 / 3, "x2": 4 / 3, "x3": 2.25 / 3, "x34": 9 / 9, "x5": 0.49 * 4 / 45}
    v = sum(parts.values())
    s1 = np.array([parts["x1"], parts["x2"], parts["x3"], 0, parts["x5"], 0]) / v
    st = s1 + np.array([0, 0, parts["x34"], parts["x34"], 0, 0]) / v
    return Problem(
        "interaction6",
        -1.0,
        1.0,
        lambda x: 0.5 * x[:, 0] + 2 * x[:, 1] + 1.5 * x[:, 2] + 3 * x[:, 2] * x[:, 3] + 0.7 * x[:, 4] ** 2,
        s1,
        st,
    )


def _score(p: Problem, s1: np.ndarray | None, st: np.ndarray) -> dict[str, Any]:
    rho = float(spearmanr(st, p.st).statistic) if np.ptp(st) > 0 else float("nan")
    out: dict[str, Any] = {"st_spearman": rho, "st": [float(v) for v in st]}
    if s1 is not None:
        out["mae"] = float(np.mean(np.abs(np.concatenate([s1 - p.s1, st - p.st]))))
        out["s1"] = [float(v) for v in s1]
    return out


def run_ours(p: Problem, u: np.ndarray, y: np.ndarray, method: str, seed: int) -> dict[str, Any]:
    params = {f"x{j}": Float(0.0, 1.0) for j in range(p.d)}
    r = importance(u, y, params, "y", method, Settings(seed=seed))
    s1 = np.array([q.s1.value for q in r.params])
    st = np.array([q.st.value for q in r.params])
    out = _score(p, s1, st)
    out["covered"] = int(
        sum(q.s1.covers(a) for q, a in zip(r.params, p.s1, strict=True))
        + sum(q.st.covers(a) for q, a in zip(r.params, p.st, strict=True))
    )
    return out


def run_optuna(p: Problem, u: np.ndarray, y: np.ndarray, evaluator: str, seed: int) -> dict[str, Any]:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    dist = {f"x{j}": FloatDistribution(0.0, 1.0) for j in range(p.d)}
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={k: float(r[j]) for j, k in enumerate(dist)}, distributions=dist, value=float(v)
            )
            for r, v in zip(u, y, strict=True)
        ]
    )
    ev = FanovaImportanceEvaluator(seed=seed) if evaluator == "fanova" else PedAnovaImportanceEvaluator()
    imp = optuna.importance.get_param_importances(study, evaluator=ev, normalize=False)
    return _score(p, None, np.array([imp[k] for k in dist]))


def run_salib_raw(p: Problem, budget: int, seed: int) -> dict[str, Any]:
    from SALib.analyze import sobol
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": p.d, "names": [f"x{j}" for j in range(p.d)], "bounds": [[p.low, p.high]] * p.d}
    n = budget // (p.d + 2)
    x = sobol_sample.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)
    res = sobol.analyze(problem, p.f(x), calc_second_order=False, num_resamples=100, seed=seed)
    out = _score(p, np.asarray(res["S1"]), np.asarray(res["ST"]))
    out["evaluations"] = len(x)
    return out


def one(p: Problem, budget: int, seed: int) -> dict[str, Any]:
    u = qmc.Sobol(p.d, scramble=True, seed=seed).random(budget)
    y = p.f(p.low + (p.high - p.low) * u)
    rows: dict[str, Any] = {}
    for name, fn in (
        ("ours", lambda: run_ours(p, u, y, "sobol", seed)),
        ("ours_fanova", lambda: run_ours(p, u, y, "fanova", seed)),
        ("optuna_fanova", lambda: run_optuna(p, u, y, "fanova", seed)),
        ("optuna_ped_anova", lambda: run_optuna(p, u, y, "ped_anova", seed)),
        ("salib_raw", lambda: run_salib_raw(p, budget, seed)),
    ):
        t = time.perf_counter()
        rows[name] = fn()
        rows[name]["seconds"] = time.perf_counter() - t
    return rows


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in runs[0]:
        med = {
            k: float(np.median([r[m][k] for r in runs]))
            for k in ("st_spearman", "mae", "seconds", "covered")
            if k in runs[0][m]
        }
        med["st_spearman_min"] = float(np.min([r[m]["st_spearman"] for r in runs]))
        out[m] = med
    return out


def hawq_rank_correlation(trials: int, seed: int) -> dict[str, Any]:
    import tempfile

    from nas.study import create_study

    spec = {
        "name": "importance-hawq",
        "space": {"name": "hawq"},
        "optimizer": {"name": "random", "seed": seed},
        "budget": {"trials": trials},
        "executor": {"name": "local"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        study = create_study(spec, storage=f"sqlite:///{tmp}/hawq.db")
        t = time.perf_counter()
        study.optimize()
        run_s = time.perf_counter() - t
        t = time.perf_counter()
        [acc] = study.importance("accuracy", seed=seed)
        imp_s = time.perf_counter() - t
        sp = study.space
        sens = sp.sensitivity()
        layers = list(sp.layers)
        st = [next(q.st.value for q in acc.params if q.name.endswith(f".{n}")) for n in layers]
        omega_low = [float(sens.omega[i, 0]) for i in range(len(layers))]
        trace = [sens.traces[n].mean / c.n_params for n, c in zip(layers, sp.costs.layers, strict=True)]
        drop = _one_layer_drops(sp, layers, min(sens.bit_choices), max(sens.bit_choices))
    return {
        "trials": trials,
        "layers": layers,
        "bit_choices": list(sens.bit_choices),
        "accuracy_st": st,
        "accuracy_s1": [next(q.s1.value for q in acc.params if q.name.endswith(f".{n}")) for n in layers],
        "omega_at_lowest_bits": omega_low,
        "avg_trace": trace,
        "validation_drop_one_layer_at_lowest_bits": drop,
        "spearman_st_vs_omega_low": float(spearmanr(st, omega_low).statistic),
        "spearman_st_vs_measured_drop": float(spearmanr(st, drop).statistic),
        "spearman_omega_low_vs_measured_drop": float(spearmanr(omega_low, drop).statistic),
        "spearman_st_vs_avg_trace": float(spearmanr(st, trace).statistic),
        "study_seconds": run_s,
        "importance_seconds": imp_s,
    }


def _one_layer_drops(sp: Any, layers: list[str], low: int, high: int) -> list[float]:
    """Validation accuracy lost when one layer alone goes to ``low`` bits (the rest ``high``)."""
    base = sp.measure(dict.fromkeys(layers, high), sp.task.val)[0]
    return [base - sp.measure({**dict.fromkeys(layers, high), n: low}, sp.task.val)[0] for n in layers]


def ishigami_check(seeds: int = 10, n: int = 300) -> dict[str, Any]:
    """The test's Ishigami check, with its margins: a fourth input the function ignores,
    ``n`` scrambled-Sobol points, N = 512, 8 posterior functions, ``seeds`` seeds."""
    p = ishigami()
    s1_true, st_true = np.append(p.s1, 0.0), np.append(p.st, 0.0)
    params = {f"x{j}": Float(0.0, 1.0) for j in range(4)}
    err, ignored_high, covered = 0.0, 0.0, np.zeros(8, dtype=int)
    for seed in range(seeds):
        u = qmc.Sobol(4, scramble=True, seed=seed).random(n)
        r = importance(u, p.f(p.low + (p.high - p.low) * u), params, "y", "sobol", Settings(seed=seed, **_TEST))
        s1, st = np.array([q.s1.value for q in r.params]), np.array([q.st.value for q in r.params])
        err = max(err, float(np.abs(np.r_[s1 - s1_true, st - st_true]).max()))
        ignored_high = max(ignored_high, r.params[3].s1.high, r.params[3].st.high)
        ivs = [q.s1 for q in r.params] + [q.st for q in r.params]
        truth = np.r_[s1_true, st_true]
        covered += [iv.low - 5e-4 <= t <= iv.high + 5e-4 for iv, t in zip(ivs, truth, strict=True)]
    return {
        "seeds": seeds,
        "points": n,
        "max_abs_error": err,
        "ignored_max_high": ignored_high,
        "covered_per_index": covered.tolist(),
        "index_order": "S1 x1..x4, ST x1..x4",
    }


_TEST = {"base": 512, "samples": 8, "anchors": 512}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    ap.add_argument("--hawq", type=int, default=0, help="trials of the hawq study (0: skip)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--ishigami-check", action="store_true", help="also the test's Ishigami check (10 seeds, 300 points)"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": 1,
        "seeds": args.seeds,
        "settings": Settings().__dict__,
        "problems": {},
    }
    for p in (ishigami(), g_function(), interaction6()) if args.seeds else ():
        result["problems"][p.name] = {"s1": p.s1.tolist(), "st": p.st.tolist(), "budgets": {}}
        for budget in args.budgets:
            runs = [one(p, budget, seed) for seed in range(args.seeds)]
            summary = summarize(runs)
            result["problems"][p.name]["budgets"][str(budget)] = {"summary": summary, "runs": runs}
            print(
                p.name,
                budget,
                json.dumps({m: {k: round(v, 3) for k, v in s.items()} for m, s in summary.items()}),
                flush=True,
            )
            _write(result, args.out)
    if args.ishigami_check:
        result["ishigami_check"] = ishigami_check()
        print("ishigami check", json.dumps(result["ishigami_check"]), flush=True)
    if args.hawq:
        result["hawq"] = hawq_rank_correlation(args.hawq, 0)
        print("hawq", json.dumps(result["hawq"]), flush=True)
    _write(result, args.out)


def _write(result: dict[str, Any], out: Path = OUT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
