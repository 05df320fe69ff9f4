"""Benchmark ``mobo`` against Optuna's samplers on multi-objective test problems.

Not a test. Each (problem, method, seed) run evaluates ``--evals`` configurations and
records the hypervolume after every evaluation (each problem's fixed reference point) and
the seconds each proposal took. ``mobo`` is driven through ``Optimizer.propose`` with
hand-built trials, in batches of 4 (``mobo``) and 1 (``mobo-b1``); Optuna's samplers through
``study.ask``/``tell``; ``botorch-matched`` is BoTorchSampler at ``mobo``'s acquisition
budgets (:func:`matched_candidates`). The summary adds each method's optimizer seconds over
whole runs (the sum over a run's evaluations, median over seeds). A second part times one
proposal at 20, 60 and 100 observations on ZDT1 (d=6). Results:
``benchmarks/results/optimizers.json`` (+ ``.jsonl`` of finished runs, so a partial run keeps
what finished) and ``optimizers.png``; a markdown table is printed.

    .venv/bin/python -m benchmarks.optimizers --seeds 5 --evals 60 --workers 2
    .venv/bin/python -m benchmarks.optimizers --summarize   # table + plot from the .jsonl
    .venv/bin/python -m benchmarks.optimizers --forget mobo,mobo-b1   # after changing mobo
    .venv/bin/python -m benchmarks.optimizers --proposal-time   # mobo vs GPSampler, per space type
    .venv/bin/python -m benchmarks.optimizers --problems zdt1 --methods mobo,gp,botorch,botorch-matched \
        --seeds 5 --evals 100 --timing '' --workers 2 --out benchmarks/results/optimizers-wholerun

``--proposal-time`` replays one random history per space type (the README's ``custom``
mixed space, the 6x5 NAS cell with two and three objectives) and times one proposal of
``mobo`` and of GPSampler at each of 20, 30, ..., 100 observations, taking turns; then
each method's first proposal in a fresh process. Results:
``benchmarks/results/optimizers-proposal.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
# Run as a script, this folder would come first on sys.path and its modules (e.g. a
# benchmarks/storage.py) would shadow the project's packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != RESULTS.parent.resolve()]
METHODS = ["mobo", "mobo-b1", "gp", "botorch", "botorch-matched", "tpe", "nsga2", "random"]
PROBLEMS = ["branincurrin", "zdt1", "zdt2", "dtlz2", "mixed", "nascell"]
TIMING_OBS = (20, 60, 100)

# --- a purely categorical problem: a NAS-Bench-201-like cell, six edges, five operations
NAS_OPS = ("none", "skip", "conv1x1", "conv3x3", "avgpool")
NAS_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
_QUALITY = {"none": 0.0, "skip": 0.25, "conv1x1": 0.6, "conv3x3": 1.0, "avgpool": 0.35}
_COST = {"none": 0.0, "skip": 0.0, "conv1x1": 1.0, "conv3x3": 9.0, "avgpool": 0.1}


def nas_cell(config: dict[str, Any]) -> dict[str, float]:
    """Error (a saturating function of the cell's strongest input→output path, with a
    residual bonus and a pooling penalty) and parameter cost, both minimized."""
    strength = {0: 0.0}
    for i, j in NAS_EDGES:  # edges are in topological order
        op = config[f"e{i}{j}"]
        if op != "none" and i in strength:
            strength[j] = max(strength.get(j, -1.0), strength[i] + _QUALITY[op])
    if 3 not in strength:
        return {"error": 0.9, "cost": sum(_COST[config[f"e{i}{j}"]] for i, j in NAS_EDGES)}
    error = 0.08 + 0.8 * math.exp(-0.9 * strength[3])
    if config["e03"] == "skip" and strength[3] >= 1.5:
        error -= 0.04  # a residual connection around a deep path
    error += 0.03 * sum(config[f"e{i}{j}"] == "avgpool" for i, j in NAS_EDGES if j == 3)
    return {"error": error, "cost": sum(_COST[config[f"e{i}{j}"]] for i, j in NAS_EDGES)}


@dataclass(frozen=True)
class Bench:
    name: str
    params: dict[str, Any]
    objectives: list[Any]
    evaluate: Callable[[dict[str, Any]], dict[str, float]]

    @property
    def ref(self) -> np.ndarray:
        return np.array([o.ref for o in self.objectives], dtype=float)


_LATENCY = {"none": 0.0, "skip": 0.1, "conv1x1": 0.4, "conv3x3": 1.0, "avgpool": 0.3}
_CUSTOM_OPS = {"conv3": (0.0, 1.0), "conv5": (0.02, 2.8), "skip": (0.12, 0.05)}  # accuracy loss, params


def nas_cell3(config: dict[str, Any]) -> dict[str, float]:
    """:func:`nas_cell` plus a latency: the sum of the operations' latencies."""
    return nas_cell(config) | {"latency": sum(_LATENCY[config[f"e{i}{j}"]] for i, j in NAS_EDGES)}


def custom_model(config: dict[str, Any]) -> dict[str, float]:
    """The README's ``custom`` example as a closed form: accuracy peaks at ``lr = 1e-3``
    and grows with depth (saturating), the operation trades accuracy for parameters."""
    loss, size = _CUSTOM_OPS[config["op"]]
    depth = 1 - math.exp(-config["layers"] / 4)
    acc = 0.95 * depth - 0.04 * (math.log10(config["lr"]) + 3) ** 2 - loss
    return {"acc": acc, "params": size * config["layers"]}


def make_bench(name: str) -> Bench:
    from search_spaces.base import Objective, make_space
    from search_spaces.params import Categorical, Float, Int

    if name in ("nascell", "nascell3"):
        params = {f"e{i}{j}": Categorical(NAS_OPS) for i, j in NAS_EDGES}
        objs = [Objective("error", "min", 1.0), Objective("cost", "min", 60.0)]
        if name == "nascell3":
            return Bench(name, params, [*objs, Objective("latency", "min", 6.5)], nas_cell3)
        return Bench(name, params, objs, nas_cell)
    if name == "custom":
        params = {"lr": Float(1e-5, 1e-1, log=True), "layers": Int(2, 12),
                  "op": Categorical(tuple(_CUSTOM_OPS))}
        return Bench(name, params, [Objective("acc", "max", 0.0), Objective("params", "min", 40.0)],
                     custom_model)
    options = {"problem": name} | ({"dim": 6} if name in ("zdt1", "zdt2", "dtlz2") else {})
    space = make_space("synthetic", options)
    return Bench(name, space.params, space.objectives, lambda c: space.evaluate(c, None).values)


# --- drivers: each returns (objective rows in evaluation order, seconds per proposed point)

def run_mobo(bench: Bench, seed: int, evals: int, batch: int,
             options: dict[str, Any] | None = None) -> tuple[np.ndarray, list[float]]:
    from nas.optimizers.base import Problem, make_optimizer
    from nas.trial import Trial, TrialState

    opt = make_optimizer("mobo", Problem(bench.params, bench.objectives), seed=seed, **(options or {}))
    rng = np.random.default_rng(seed)
    history: list[Trial] = []
    seconds: list[float] = []
    while len(history) < evals:
        t0 = time.perf_counter()
        configs = opt.propose(history, [], min(batch, evals - len(history)), rng)
        seconds += [(time.perf_counter() - t0) / len(configs)] * len(configs)
        for c in configs:
            n = len(history)
            values = bench.evaluate(c)
            history.append(Trial(id=n, number=n, state=TrialState.COMPLETE, params=c, values=values))
    Y = np.array([[t.values[o.name] for o in bench.objectives] for t in history])
    return Y, seconds


#: ``mobo``'s acquisition budgets (its defaults), given to BoTorchSampler in ``botorch-matched``.
MATCHED = {"mc_samples": 64, "num_restarts": 4, "raw_samples": 128, "maxiter": 5}


def matched_candidates(train_x: Any, train_obj: Any, train_con: Any, bounds: Any, pending_x: Any) -> Any:
    """BoTorchSampler's own recipe for two or three objectives (a ``SingleTaskGP`` on the unit
    cube with standardized outputs, fitted by ``fit_gpytorch_mll``; qLogEHVI over the
    observed front, reference point just below the observed minima), run at ``mobo``'s
    acquisition budgets (:data:`MATCHED`) instead of its defaults (256 MC samples, 20
    restarts from 1024 raw samples, up to 200 L-BFGS iterations). Unconstrained problems only."""
    import torch
    from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.utils.multi_objective.box_decompositions import NondominatedPartitioning
    from botorch.utils.transforms import normalize, unnormalize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    assert train_con is None, "botorch-matched: constraints are not benchmarked"
    x = normalize(train_x, bounds=bounds)
    gp = SingleTaskGP(x, train_obj, outcome_transform=Standardize(m=train_obj.shape[-1]))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    ref = train_obj.min(dim=0).values - 1e-8
    acq = qLogExpectedHypervolumeImprovement(
        gp, ref_point=ref.tolist(), partitioning=NondominatedPartitioning(ref_point=ref, Y=train_obj),
        sampler=SobolQMCNormalSampler(torch.Size([MATCHED["mc_samples"]])),
        X_pending=None if pending_x is None else normalize(pending_x, bounds=bounds))
    unit = torch.stack([torch.zeros(x.shape[-1]), torch.ones(x.shape[-1])]).to(x)
    best, _ = optimize_acqf(acq, bounds=unit, q=1, num_restarts=MATCHED["num_restarts"],
                            raw_samples=MATCHED["raw_samples"],
                            options={"batch_limit": 5, "maxiter": MATCHED["maxiter"]})
    return unnormalize(best.detach(), bounds=bounds)


def optuna_sampler(method: str, seed: int) -> Any:
    import optuna

    if method.startswith("botorch"):
        from optuna_integration import BoTorchSampler

        if method == "botorch-matched":
            return BoTorchSampler(seed=seed, candidates_func=matched_candidates)
        return BoTorchSampler(seed=seed)
    return {
        "gp": optuna.samplers.GPSampler,
        "tpe": optuna.samplers.TPESampler,
        "nsga2": optuna.samplers.NSGAIISampler,
        "random": optuna.samplers.RandomSampler,
    }[method](seed=seed)


def distributions(params: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from search_spaces.params import Categorical, Float

    out: dict[str, Any] = {}
    for k, p in params.items():
        if isinstance(p, Float):
            out[k] = FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, Categorical):
            out[k] = CategoricalDistribution(p.choices)
        else:
            out[k] = IntDistribution(p.low, p.high, log=p.log)
    return out


def run_optuna(bench: Bench, seed: int, evals: int, method: str) -> tuple[np.ndarray, list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(directions=["minimize" if o.direction == "min" else "maximize"
                                            for o in bench.objectives], sampler=optuna_sampler(method, seed))
    dists = distributions(bench.params)
    rows, seconds = [], []
    for _ in range(evals):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        seconds.append(time.perf_counter() - t0)
        v = bench.evaluate(trial.params)
        row = [v[o.name] for o in bench.objectives]
        study.tell(trial, row)
        rows.append(row)
    return np.array(rows), seconds


def run_one(problem: str, method: str, seed: int, evals: int,
            mobo_options: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    from nas.pareto import hypervolume_trace, to_min

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    bench = make_bench(problem)
    t0 = time.perf_counter()
    if method.startswith("mobo"):
        Y, sec = run_mobo(bench, seed, evals, 1 if method == "mobo-b1" else 4, mobo_options)
    else:
        Y, sec = run_optuna(bench, seed, evals, method)
    Ymin = to_min(Y, [o.direction for o in bench.objectives])
    ref = to_min(bench.ref, [o.direction for o in bench.objectives])
    return {"kind": "run", "problem": problem, "method": method, "seed": seed, "evals": evals,
            "hv": hypervolume_trace(Ymin, ref).tolist(), "seconds": sec,
            "wall": time.perf_counter() - t0}


def time_one(method: str, n_obs: int, repeats: int = 3,
             mobo_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Median seconds per proposed point with ``n_obs`` random observations of ZDT1, in
    steady state: each method first proposes once with the last batch missing (so caches
    and warm starts are as in a running study, for Optuna's GPSampler too), then is timed."""
    import optuna
    import torch

    from nas.optimizers.base import Problem, make_optimizer
    from nas.trial import Trial, TrialState

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    bench = make_bench("zdt1")
    rng = np.random.default_rng(n_obs)
    X = rng.random((n_obs, len(bench.params)))
    configs = [dict(zip(bench.params, map(float, x), strict=True)) for x in X]
    values = [bench.evaluate(c) for c in configs]
    batch = 4 if method == "mobo" else 1
    times = []
    for r in range(repeats):
        if method.startswith("mobo"):
            hist = [Trial(id=i, number=i, state=TrialState.COMPLETE, params=c, values=v)
                    for i, (c, v) in enumerate(zip(configs, values, strict=True))]
            opt = make_optimizer("mobo", Problem(bench.params, bench.objectives), seed=r,
                                 **(mobo_options or {}))
            opt.propose(hist[:-batch], [], batch, np.random.default_rng(r))
            t0 = time.perf_counter()
            opt.propose(hist, [], batch, np.random.default_rng(r))
            times.append((time.perf_counter() - t0) / batch)
        else:
            study = optuna.create_study(directions=["minimize"] * 2, sampler=optuna_sampler(method, r))
            dists = distributions(bench.params)
            rows = [[v[o.name] for o in bench.objectives] for v in values]
            study.add_trials([optuna.trial.create_trial(params=c, distributions=dists, values=y)
                              for c, y in zip(configs[:-1], rows[:-1], strict=True)])
            warm = study.ask(dists)  # untimed: the sampler's caches and warm starts fill up
            study.tell(warm, [bench.evaluate(warm.params)[o.name] for o in bench.objectives])
            t0 = time.perf_counter()
            study.ask(dists)
            times.append(time.perf_counter() - t0)
    return {"kind": "timing", "method": method, "n_obs": n_obs, "seconds": float(np.median(times))}


# --- proposal time on a fixed history (``--proposal-time``)

PROPOSAL_SPACES = {"custom": "mixed", "nascell": "categorical", "nascell3": "categorical"}
PROPOSAL_OBS = tuple(range(20, 101, 10))
FIRST_OBS = (8, 20, 100)  # the first model-based proposal of a fresh study, resumed ones


def random_history(bench: Bench, n: int, seed: int) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """``n`` uniformly random configurations (log-uniform where ``log``) and their values."""
    from search_spaces.params import Categorical, Float

    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        c: dict[str, Any] = {}
        for k, p in bench.params.items():
            if isinstance(p, Categorical):
                c[k] = p.choices[int(rng.integers(len(p.choices)))]
            elif isinstance(p, Float):
                c[k] = float(np.exp(rng.uniform(math.log(p.low), math.log(p.high))) if p.log
                             else rng.uniform(p.low, p.high))
            else:
                c[k] = int(rng.integers(p.low, p.high + 1))
        configs.append(c)
    return configs, [[bench.evaluate(c)[o.name] for o in bench.objectives] for c in configs]


class _Proposer:
    """One method proposing one point at a time on a history it is handed: ``mobo`` through
    ``propose``, GPSampler through ``ask`` on a study holding the same trials (each asked
    trial is told FAIL, which GPSampler ignores, so the history stays the same)."""

    def __init__(self, method: str, bench: Bench, seed: int) -> None:
        import optuna

        from nas.optimizers.base import Problem, make_optimizer

        self.method, self.bench, self.n = method, bench, 0
        self.dists = distributions(bench.params)
        if method == "mobo":
            self.opt = make_optimizer("mobo", Problem(bench.params, bench.objectives), seed=seed)
            self.rng = np.random.default_rng(seed)
        else:
            self.study = optuna.create_study(
                directions=["minimize" if o.direction == "min" else "maximize" for o in bench.objectives],
                sampler=optuna_sampler(method, seed))

    def time(self, configs: list[dict[str, Any]], rows: list[list[float]]) -> float:
        """Seconds for one proposal with the first ``len(configs)`` observations."""
        import optuna

        from nas.trial import Trial, TrialState

        if self.method == "mobo":
            names = [o.name for o in self.bench.objectives]
            hist = [Trial(id=i, number=i, state=TrialState.COMPLETE, params=c,
                          values=dict(zip(names, y, strict=True)))
                    for i, (c, y) in enumerate(zip(configs, rows, strict=True))]
            t0 = time.perf_counter()
            self.opt.propose(hist, [], 1, self.rng)
            return time.perf_counter() - t0
        self.study.add_trials([optuna.trial.create_trial(params=c, distributions=self.dists, values=y)
                               for c, y in zip(configs[self.n:], rows[self.n:], strict=True)])
        self.n = len(configs)
        t0 = time.perf_counter()
        trial = self.study.ask(self.dists)
        seconds = time.perf_counter() - t0
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return seconds


def proposal_times(space: str, methods: list[str], seed: int = 0) -> dict[str, Any]:
    """A live study replayed: at each of ``PROPOSAL_OBS`` observations every method
    proposes once (methods take turns, so both see the same contention)."""
    import optuna
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    bench = make_bench(space)
    configs, rows = random_history(bench, max(PROPOSAL_OBS), seed)
    proposers = [_Proposer(m, bench, seed) for m in methods]
    proposers[0].time(configs[: PROPOSAL_OBS[0] - 1], rows[: PROPOSAL_OBS[0] - 1])  # warm-up, untimed
    proposers[1].time(configs[: PROPOSAL_OBS[0] - 1], rows[: PROPOSAL_OBS[0] - 1])
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    for n in PROPOSAL_OBS:
        for p in proposers:
            seconds[p.method].append(p.time(configs[:n], rows[:n]))
    return {"kind": "proposal", "space": space, "seed": seed, "obs": list(PROPOSAL_OBS), "seconds": seconds}


def first_proposal(space: str, method: str, seed: int = 0) -> dict[str, Any]:
    """Seconds of a fresh optimizer's first proposal (imports and history outside the
    clock) at each of ``FIRST_OBS`` observations; the first in a fresh process too."""
    import optuna
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    bench = make_bench(space)
    configs, rows = random_history(bench, max(FIRST_OBS), seed)
    seconds = [_Proposer(method, bench, seed).time(configs[:n], rows[:n]) for n in FIRST_OBS]
    return {"kind": "first", "space": space, "method": method, "seed": seed, "obs": list(FIRST_OBS),
            "seconds": seconds}


def proposal_table(records: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Median and max seconds per space and observation band, ``mobo`` against GPSampler."""
    summary: dict[str, Any] = {}
    lines = ["| space | type | obs | mobo median | mobo max | GPSampler median | GPSampler max | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in (r for r in records if r["kind"] == "proposal"):
        obs = np.array(r["obs"])
        for lo, hi in ((20, 40), (50, 70), (80, 100), (20, 100)):
            sel = (obs >= lo) & (obs <= hi)
            row = {m: (float(np.median(np.array(v)[sel])), float(np.max(np.array(v)[sel])))
                   for m, v in r["seconds"].items()}
            ratio = row["mobo"][0] / row["gp"][0]
            summary.setdefault(r["space"], {})[f"{lo}-{hi}"] = row | {"ratio": ratio}
            lines.append(f"| {r['space']} | {PROPOSAL_SPACES[r['space']]} | {lo}–{hi} | "
                         f"{row['mobo'][0]:.2f} | {row['mobo'][1]:.2f} | {row['gp'][0]:.2f} | "
                         f"{row['gp'][1]:.2f} | {ratio:.2f} |")
    lines += ["", "First proposal of a fresh optimizer, in a fresh process (seconds):", "",
              "| space | method | " + " | ".join(f"{n} obs" for n in FIRST_OBS) + " |",
              "|---|---|" + "---|" * len(FIRST_OBS)]
    for r in (r for r in records if r["kind"] == "first"):
        summary.setdefault(r["space"], {}).setdefault("first", {})[r["method"]] = r["seconds"]
        lines.append(f"| {r['space']} | {r['method']} | " + " | ".join(f"{s:.2f}" for s in r["seconds"]) + " |")
    return summary, "\n".join(lines)


def run_proposal_benchmark(out: Path, seed: int) -> None:
    """Each job in its own fresh process, one at a time."""
    jobs = [(proposal_times, (space, ["mobo", "gp"], seed)) for space in PROPOSAL_SPACES]
    jobs += [(first_proposal, (space, m, seed)) for space in PROPOSAL_SPACES for m in ("mobo", "gp")]
    records = []
    for fn, args in jobs:
        with ProcessPoolExecutor(1, max_tasks_per_child=1) as pool:
            records.append(pool.submit(fn, *args).result())
        print(json.dumps(records[-1]), flush=True)
    summary, table = proposal_table(records)
    (out / "optimizers-proposal.json").write_text(json.dumps({"summary": summary, "records": records}, indent=1))
    print(table)


def _job(args: tuple[str, ...]) -> dict[str, Any]:
    options = json.loads(args[-1])
    if args[0] == "run":
        return run_one(args[1], args[2], int(args[3]), int(args[4]), options)
    return time_one(args[1], int(args[2]), mobo_options=options)


# --- summary

def load(jsonl: Path) -> list[dict[str, Any]]:
    if not jsonl.exists():
        return []
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]


def summarize(records: list[dict[str, Any]], out: Path) -> str:
    runs = [r for r in records if r["kind"] == "run"]
    timing = [r for r in records if r["kind"] == "timing"]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
    methods = [m for m in METHODS if any(r["method"] == m for r in runs + timing)]
    summary: dict[str, Any] = {"final_hv": {}, "hv_at_40": {}, "seeds": {}, "sec_per_point": {},
                               "optimizer_s_per_run": {}}
    for p in problems:
        for m in methods:
            rs = [r for r in runs if r["problem"] == p and r["method"] == m]
            if rs:
                summary["final_hv"].setdefault(p, {})[m] = float(np.median([r["hv"][-1] for r in rs]))
                summary["hv_at_40"].setdefault(p, {})[m] = float(np.median([r["hv"][min(39, len(r["hv"]) - 1)]
                                                                            for r in rs]))
                summary["seeds"].setdefault(p, {})[m] = len(rs)
                summary["optimizer_s_per_run"].setdefault(p, {})[m] = whole_run_seconds(rs)
    for m in methods:
        for n in TIMING_OBS:
            ts = [r["seconds"] for r in timing if r["method"] == m and r["n_obs"] == n]
            if ts:
                summary["sec_per_point"].setdefault(m, {})[str(n)] = float(np.median(ts))
    (out / "optimizers.json").write_text(json.dumps({"summary": summary, "records": records}, indent=1))
    if problems:
        _plot(runs, problems, methods, out / "optimizers.png")
    return _table(summary, problems, methods)


def whole_run_seconds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Optimizer time of whole runs: per run the sum of its proposals' seconds (every
    evaluation's share of its batch), then the median, min and max over seeds."""
    sums = [float(np.sum(r["seconds"])) for r in runs]
    return {"evals": runs[0]["evals"], "median": float(np.median(sums)), "min": min(sums), "max": max(sums),
            "seeds": len(sums)}


def _table(summary: dict[str, Any], problems: list[str], methods: list[str]) -> str:
    lines = ["Median final hypervolume (fixed reference point; seeds in brackets; **best**):", "",
             "| problem | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for p in problems:
        hv = summary["final_hv"][p]
        best = max(hv.values())
        cells = [("**%.5g**" if hv[m] == best else "%.5g") % hv[m] + f" ({summary['seeds'][p][m]})"
                 if m in hv else "–" for m in methods]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    peers = [m for m in methods if not m.startswith("mobo")]
    lines += ["", "Stretch goal: `mobo`'s median hypervolume after 40 evaluations vs the best peer's "
              "after 60:", ""]
    for p in problems:
        hv, at40 = summary["final_hv"][p], summary["hv_at_40"][p]
        best = max(peers, key=lambda m: hv.get(m, -math.inf), default=None)
        if "mobo" in at40 and best in hv:
            verdict = "reached" if at40["mobo"] >= hv[best] else "not reached"
            lines.append(f"- {p}: {at40['mobo']:.5g} at 40 vs {best} {hv[best]:.5g} at 60: {verdict}")
    lines += ["", "Optimizer seconds per run (sum over the run's evaluations; median [min, max] over seeds, "
              "seeds in brackets):", "", "| problem | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for p in problems:
        w = summary["optimizer_s_per_run"][p]
        lines.append(f"| {p} | " + " | ".join(
            f"{w[m]['median']:.3g} [{w[m]['min']:.3g}, {w[m]['max']:.3g}] ({w[m]['seeds']})" if m in w else "–"
            for m in methods) + " |")
    if summary["sec_per_point"]:
        lines += ["", "Median seconds per proposed point (ZDT1, d=6):", "",
                  "| method | " + " | ".join(f"{n} obs" for n in TIMING_OBS) + " |",
                  "|---|" + "---|" * len(TIMING_OBS)]
        for m, row in summary["sec_per_point"].items():
            lines.append(f"| {m} | " + " | ".join(f"{row[str(n)]:.3g}" if str(n) in row else "–"
                                                  for n in TIMING_OBS) + " |")
    return "\n".join(lines)


def _plot(runs: list[dict[str, Any]], problems: list[str], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(15, 4.2 * rows), squeeze=False)
    for ax, p in zip(axes.flat, problems, strict=False):
        for m in methods:
            rs = [r["hv"] for r in runs if r["problem"] == p and r["method"] == m]
            if rs:
                n = min(map(len, rs))
                ax.plot(np.arange(1, n + 1), np.median([h[:n] for h in rs], axis=0), label=m,
                        color=f"C{METHODS.index(m)}")
        ax.set_title(p)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("hypervolume (median over seeds)")
    for ax in axes.flat[len(problems):]:
        ax.axis("off")
    for ax in axes.flat[: len(problems)]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--evals", type=int, default=60)
    ap.add_argument("--timing", default=",".join(METHODS), help="methods to time ('' for none)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--fresh", action="store_true", help="forget finished runs in the .jsonl")
    ap.add_argument("--retime", action="store_true", help="forget finished timings and measure again")
    ap.add_argument("--forget", default="", help="methods whose finished runs and timings are stale "
                    "(e.g. 'mobo,mobo-b1' after a change to mobo): dropped from the .jsonl")
    ap.add_argument("--summarize", action="store_true", help="only rebuild table and plot")
    ap.add_argument("--mobo-options", default="{}", type=json.loads,
                    help="JSON options for mobo (experiments: pair with their own --out)")
    ap.add_argument("--proposal-time", action="store_true", help="only the proposal-time table: "
                    "mobo against GPSampler on one history per space type "
                    "(results/optimizers-proposal.json)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.proposal_time:
        run_proposal_benchmark(a.out, 0)
        return
    jsonl = a.out / "optimizers.jsonl"
    if a.fresh and jsonl.exists():
        jsonl.unlink()
    stale = set(filter(None, a.forget.split(",")))
    if a.retime or stale:
        kept = [r for r in load(jsonl) if not (a.retime and r["kind"] == "timing") and r["method"] not in stale]
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in kept))
    if not a.summarize:
        done = {(r["kind"], r.get("problem"), r["method"], r.get("seed"), r.get("n_obs"))
                for r in load(jsonl)}
        opts = json.dumps(a.mobo_options)
        jobs = [("timing", m, str(n), opts) for n in TIMING_OBS for m in a.timing.split(",") if m
                if ("timing", None, m, None, n) not in done]
        jobs += [("run", p, m, str(s), str(a.evals), opts) for s in range(a.seeds) for p in a.problems.split(",")
                 for m in a.methods.split(",") if m and ("run", p, m, s, None) not in done]
        with ProcessPoolExecutor(a.workers) as pool, jsonl.open("a") as f:
            for fut in as_completed([pool.submit(_job, j) for j in jobs]):
                rec = fut.result()
                f.write(json.dumps(rec) + "\n")
                f.flush()
                label = rec.get("problem", "timing"), rec["method"], rec.get("seed", rec.get("n_obs"))
                print(*label, f"{rec['hv'][-1]:.4g} in {rec['wall']:.0f}s" if rec["kind"] == "run"
                      else f"{rec['seconds']:.3g}s/point", flush=True)
    print(summarize(load(jsonl), a.out))


if __name__ == "__main__":
    main()
