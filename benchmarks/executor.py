"""Ray executor benchmark: whole-process start, scaling, per-trial overhead against Ray Tune,
crash recovery.

    .venv/bin/python benchmarks/executor.py     # writes benchmarks/results/executor.json

- whole process: ``nas run`` of 48 trials of a 0.5 s CPU-bound evaluation on 2 workers, as a
  user runs it (a fresh process that starts its own local Ray and shuts it down), against a
  plain two-process ``multiprocessing`` pool (spawn) doing the same work, each timed as a
  whole process from launch to exit; the pool runs just before and just after each
  ``nas run`` and the ratio is taken against their mean, so load on a shared machine
  cancels out. Goal: ``nas run`` within 1.25x of the pool (median over repeats). Each run
  also records, from its stored trials, where its time went (:func:`timeline`) and how many
  worker processes evaluated. ``--whole-trials 240 --whole-repeats 1 --whole-key
  whole_process_240`` is the long-study check.

The other parts share one local Ray (2 CPUs), warmed up first so worker start-up is not counted.

- scaling: 40 trials of a 0.5 s CPU-bound evaluation (``time.process_time``) with 1 and with
  2 workers; speed-up = wall(1) / wall(2). Goal >= 1.8x on 2 cores. As a control, the same
  work in 1 and 2 plain processes shows what the machine allows at that moment (other
  load on a shared machine caps both).
- overhead: 500 no-op trials (2 params, 2 objectives), 2 workers / 2 concurrent trials, ours
  (random optimizer, SQLite store) against Ray Tune with ``OptunaSearch`` (random sampler,
  ``reuse_actors=True``: one actor per slot, not per trial), and a control of plain Ray
  tasks fed by Optuna's ask/tell (random sampler, in memory). Per-trial overhead
  is the worker-slot time a trial costs: the median over windows of 10 consecutive
  completions of (window time x concurrency / 10). Goal: ours <= 1/5 of Tune's.
- recovery: an evaluation that kills its worker (``os._exit``); time from the death (the
  evaluator's last timestamp) to its trial re-queued in the store (the retry's creation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas import TrialState, create_study  # noqa: E402
from nas.executors.ray import RayExecutor  # noqa: E402
from nas.executors.ray_session import start_ray, stop_ray  # noqa: E402

EVALUATORS = """
import os, time
DIR = "@DIR@"
def busy(p):
    t = time.process_time()
    while time.process_time() - t < 0.5:
        pass
    return {"f1": p["x0"], "f2": p["x1"]}
def noop(p):
    return {"f1": p["x0"], "f2": p["x1"]}
def crash(p):
    try:
        os.close(os.open(os.path.join(DIR, "crash-%.12f" % p["x0"]), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return {"f1": p["x0"], "f2": p["x1"]}
    with open(os.path.join(DIR, "deaths.log"), "a") as f:
        f.write("%r %r\\n" % (p["x0"], time.time()))
    os._exit(1)
"""


def _spec(name: str, evaluator: str, trials: int, workers: int, **extra: object) -> dict:
    x = {"type": "float", "low": 0.0, "high": 1.0}
    return {
        "name": name,
        "space": {"name": "custom", "params": {"x0": x, "x1": x}, "evaluator": f"nas_bench_ev:{evaluator}"},
        "objectives": [{"name": "f1", "direction": "min"}, {"name": "f2", "direction": "min"}],
        "optimizer": {"name": "random", "seed": 0},
        "budget": {"trials": trials},
        "executor": {"name": "ray", "workers": workers},
        **extra,
    }


def _run(url: str, name: str, evaluator: str, trials: int, workers: int, **extra: object) -> tuple[float, list]:
    study = create_study(_spec(name, evaluator, trials, workers, **extra), storage=url)
    stamps: list[float] = []
    t0 = time.perf_counter()
    study.optimize(RayExecutor(workers=workers), progress=lambda s, t: stamps.append(time.perf_counter()))
    return time.perf_counter() - t0, stamps


def per_trial_overhead(stamps: list[float], concurrency: int, window: int = 10) -> float:
    """Median over windows of ``window`` consecutive completions of the slot time per trial."""
    stamps = sorted(stamps)
    rates = [(stamps[i + window] - stamps[i]) * concurrency / window for i in range(len(stamps) - window)]
    return statistics.median(rates)


def _busy(_: int) -> None:
    t = time.process_time()
    while time.process_time() - t < 0.5:
        pass


def control_speedup(trials: int) -> float:
    """What this machine allows right now: the same work in 1 and in 2 plain processes (no Ray, no store)."""
    from multiprocessing import get_context

    walls = []
    for n in (1, 2):
        with get_context("fork").Pool(n) as pool:
            t0 = time.perf_counter()
            pool.map(_busy, range(trials), chunksize=1)
            walls.append(time.perf_counter() - t0)
    return walls[0] / walls[1]


POOL = """
import multiprocessing as mp, sys
sys.path.insert(0, {work!r})
import nas_bench_ev
if __name__ == "__main__":
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(nas_bench_ev.busy, [{{"x0": i / {n}, "x1": 0.5}} for i in range({n})], chunksize=1)
"""


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def timeline(url: str, name: str, launched: float, wall: float) -> dict:
    """Where a ``nas run``'s time went, from its stored trials (seconds after launch): the
    first trial's start, the last one's end, the exit after it, the median trial's own time
    (take-over to tell, for 0.5 s of CPU), and how many worker processes evaluated (the two
    warm ones only means Ray took no trial)."""
    from datetime import UTC

    from nas import load_study

    trials = load_study(name, url).trials()
    at = [(t.started_at.replace(tzinfo=UTC).timestamp() - launched,  # type: ignore[union-attr]
           t.finished_at.replace(tzinfo=UTC).timestamp() - launched) for t in trials]  # type: ignore[union-attr]
    return {"first_start_s": min(a for a, _ in at), "last_finish_s": max(b for _, b in at),
            "exit_after_last_s": wall - max(b for _, b in at),
            "trial_median_s": statistics.median(b - a for a, b in at),
            "worker_processes": len({t.worker_id for t in trials})}


def whole_process(work: Path, trials: int, repeats: int) -> dict:
    """``nas run`` as a fresh process (its own local Ray) against a plain 2-process pool,
    the pool timed just before and just after each run; see the module docstring."""
    env = {**os.environ, "PYTHONPATH": str(work)}
    env.pop("RAY_ADDRESS", None)
    (work / "pool.py").write_text(POOL.format(work=str(work), n=trials))
    nas = str(Path(sys.executable).with_name("nas"))
    runs = []
    for i in range(repeats):
        spec = work / f"whole-{i}.json"
        spec.write_text(json.dumps({**_spec(f"whole-{i}", "busy", trials, 2), "optimizer": {"name": "random",
                                                                                           "seed": i}}))
        url = f"sqlite:///{work}/whole-{i}.db"
        before = _timed([sys.executable, str(work / "pool.py")], work, env)
        launched = time.time()
        ours = _timed([nas, "run", str(spec), "--storage", url], work, env)
        after = _timed([sys.executable, str(work / "pool.py")], work, env)
        runs.append({"nas_run_s": ours, "pool_before_s": before, "pool_after_s": after,
                     "ratio": ours / ((before + after) / 2), **timeline(url, f"whole-{i}", launched, ours)})
        print(f"whole process {i}: nas run {ours:.1f} s, pool {before:.1f}/{after:.1f} s, "
              f"{runs[-1]['ratio']:.2f}x; {json.dumps({k: runs[-1][k] for k in list(runs[-1])[4:]})}", flush=True)
    return {"trials": trials, "eval_cpu_s": 0.5, "workers": 2, "runs": runs,
            "median_ratio": statistics.median(r["ratio"] for r in runs), "goal": 1.25,
            "settings": "nas run with its progress bar to a file, SQLite store (WAL, synchronous=FULL), "
                        "random optimizer; pool: multiprocessing spawn Pool(2), chunksize=1; "
                        "both timed from launch to exit"}


def scaling(url: str, trials: int) -> dict:
    _run(url, "warm-up", "noop", 8, 2)
    load = os.getloadavg()[0]
    wall1, _ = _run(url, "scale-1", "busy", trials, 1)
    wall2, _ = _run(url, "scale-2", "busy", trials, 2)
    return {"trials": trials, "eval_cpu_s": 0.5, "wall_1_worker_s": wall1, "wall_2_workers_s": wall2,
            "speedup": wall1 / wall2, "goal": 1.8, "load_avg_1m_before": load,
            "control_speedup_plain_processes": control_speedup(trials)}


def overhead_ours(url: str, trials: int) -> dict:
    wall, stamps = _run(url, "overhead", "noop", trials, 2)
    return {"wall_s": wall, "per_trial_ms": 1000 * per_trial_overhead(stamps, 2)}


def overhead_tune(trials: int) -> dict:
    from optuna.samplers import RandomSampler
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    stamps: list[float] = []

    class Stamp(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            stamps.append(time.perf_counter())

    def noop(config: dict) -> None:
        tune.report({"f1": config["x0"], "f2": config["x1"]})

    tuner = tune.Tuner(
        noop,
        param_space={"x0": tune.uniform(0, 1), "x1": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(metric=["f1", "f2"], mode=["min", "min"], sampler=RandomSampler(seed=0)),
            num_samples=trials, max_concurrent_trials=2, reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0, callbacks=[Stamp()]),
    )
    t0 = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "per_trial_ms": 1000 * per_trial_overhead(stamps, 2)}


def overhead_ray_optuna(trials: int) -> dict:
    """The control: plain Ray tasks fed by Optuna's ask/tell (random sampler, in-memory
    storage, nothing written to disk), two in flight, a new one as soon as one returns."""
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))

    @ray.remote(num_cpus=1, max_retries=0)
    def noop(x0: float, x1: float) -> list[float]:
        return [x0, x1]

    def submit() -> tuple[object, optuna.trial.Trial]:
        t = study.ask()
        return noop.remote(t.suggest_float("x0", 0, 1), t.suggest_float("x1", 0, 1)), t

    stamps: list[float] = []
    t0 = time.perf_counter()
    inflight = dict(submit() for _ in range(min(2, trials)))
    asked = len(inflight)
    while inflight:
        (ref,), _ = ray.wait(list(inflight), num_returns=1)
        study.tell(inflight.pop(ref), ray.get(ref))
        stamps.append(time.perf_counter())
        if asked < trials:
            ref, t = submit()
            inflight[ref] = t
            asked += 1
    return {"wall_s": time.perf_counter() - t0, "per_trial_ms": 1000 * per_trial_overhead(stamps, 2)}


def recovery(url: str, workdir: Path, crashes: int) -> dict:
    study = create_study(_spec("recovery", "crash", crashes, 1, max_retries=2), storage=url)
    study.optimize(RayExecutor(workers=1))
    deaths = {}
    for line in (workdir / "deaths.log").read_text().splitlines():
        x0, t = line.split()
        deaths[float(x0)] = float(t)
    delays = []
    for t in study.trials():
        if t.attempt == 1 and t.params["x0"] in deaths:
            requeued = t.created_at.replace(tzinfo=UTC).timestamp()
            delays.append(requeued - deaths[t.params["x0"]])
    done = len(study.trials(TrialState.COMPLETE))
    return {"crashes": len(delays), "complete_after": done, "median_s": statistics.median(delays),
            "max_s": max(delays), "lease_grace_s": study.spec.lease.grace_s}


def table(r: dict) -> str:
    s, o, rec, w = r["scaling"], r["overhead"], r["recovery"], r.get("whole_process")
    each = ", ".join(f"{x['ratio']:.2f}" for x in w["runs"]) if w else ""
    whole = [] if w is None else [
        f"| whole process: `nas run` of {w['trials']} x 0.5 s CPU trials, 2 workers, own local Ray "
        f"(median of {len(w['runs'])}) | {statistics.median(x['nas_run_s'] for x in w['runs']):.1f} s | plain "
        f"2-process pool, before/after: {statistics.median(x['pool_before_s'] for x in w['runs']):.1f} s / "
        f"{statistics.median(x['pool_after_s'] for x in w['runs']):.1f} s | <= 1.25x (now "
        f"{w['median_ratio']:.2f}x; runs {each}) |"]
    return "\n".join([
        "| measure | ours | reference | goal |",
        "|---|---|---|---|",
        *whole,
        f"| scaling: {s['trials']} x 0.5 s CPU trials, 1 -> 2 workers | {s['speedup']:.2f}x "
        f"({s['wall_1_worker_s']:.1f} s -> {s['wall_2_workers_s']:.1f} s) | 2 plain processes, same machine "
        f"and moment: {s['control_speedup_plain_processes']:.2f}x | >= 1.8x |",
        f"| overhead: {o['trials']} no-op trials, per trial (slot time) | {o['ours']['per_trial_ms']:.1f} ms "
        f"({o['ours']['wall_s']:.1f} s total) | Ray Tune + OptunaSearch {o['tune']['per_trial_ms']:.0f} ms "
        f"({o['tune']['wall_s']:.0f} s total; `reuse_actors=True`, random sampler) | ours <= 1/5 "
        f"(now 1/{o['ratio']:.0f}) |",
        f"| overhead, control: the same no-op trials as plain Ray tasks fed by Optuna ask/tell (in memory) "
        f"| — | {o['ray_tasks_optuna']['per_trial_ms']:.1f} ms ({o['ray_tasks_optuna']['wall_s']:.1f} s total) | — |",
        f"| recovery: killed worker -> trial re-queued (median of {rec['crashes']}) | {rec['median_s']:.2f} s "
        f"(max {rec['max_s']:.2f} s) | lease expiry {rec['lease_grace_s']:.0f} s | immediate |",
    ])


def _in_one_ray(res: dict, parts: set[str], url: str, work: Path, args: argparse.Namespace) -> None:
    if "scaling" in parts:
        res["scaling"] = scaling(url, args.scale_trials)
    if "overhead" in parts:
        ours = overhead_ours(url, args.overhead_trials)
        tune_res = overhead_tune(args.overhead_trials)
        control = overhead_ray_optuna(args.overhead_trials)
        res["overhead"] = {"trials": args.overhead_trials, "concurrency": 2, "ours": ours, "tune": tune_res,
                           "ray_tasks_optuna": control,
                           "ratio": tune_res["per_trial_ms"] / ours["per_trial_ms"], "goal_ratio": 5,
                           "tune_settings": "reuse_actors=True, OptunaSearch(RandomSampler(seed=0)), "
                                            "max_concurrent_trials=2",
                           "control_settings": "plain Ray tasks, Optuna ask/tell, RandomSampler, in-memory"}
    if "recovery" in parts:
        res["recovery"] = recovery(url, work, args.crashes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale-trials", type=int, default=40)
    ap.add_argument("--overhead-trials", type=int, default=500)
    ap.add_argument("--crashes", type=int, default=5)
    ap.add_argument("--whole-trials", type=int, default=48)
    ap.add_argument("--whole-repeats", type=int, default=5)
    ap.add_argument("--whole-key", default="whole_process", help="where in --out the whole-process part goes")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "executor.json"))
    ap.add_argument("--parts", default="whole,scaling,overhead,recovery",
                    help="which measurements to (re)run; the others are kept from --out")
    args = ap.parse_args()
    parts = set(args.parts.split(","))

    work = Path(tempfile.mkdtemp(prefix="nas-bench-"))
    (work / "nas_bench_ev.py").write_text(textwrap.dedent(EVALUATORS).replace("@DIR@", str(work)))
    sys.path.insert(0, str(work))
    url = f"sqlite:///{work}/bench.db"
    res: dict = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    if "whole" in parts:  # before this process holds a Ray: each `nas run` starts its own
        res[args.whole_key] = whole_process(work, args.whole_trials, args.whole_repeats)
    if parts & {"scaling", "overhead", "recovery"}:  # these share one Ray; the whole-process part needs none
        session = start_ray(num_cpus=2)
        try:
            _in_one_ray(res, parts, url, work, args)
        finally:
            stop_ray(session)
    import ray

    res["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__,
                      "load_avg_1m_at_end": os.getloadavg()[0]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(table(res))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
