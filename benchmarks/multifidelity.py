"""Benchmark multi-fidelity search: MO-ASHA against full-fidelity runs, by epochs spent.

Not a test. Task: an MLP on mnist1d (``search_spaces.tasks.vision.load_arrays``), one
step per training epoch, up to ``--max-epochs``; two objectives, validation error and
parameters (thousands), both minimised. ``--problem`` picks the search space (see
:data:`PROBLEMS`): ``mlp3`` (width, depth, learning rate) or ``mlp6`` (also weight decay,
batch size and dropout, over wider ranges). Each (method, seed) run is a real study in
SQLite driven by ``Study.ask`` and ``nas.runner.evaluate_trial`` (the path every executor
uses), until ``--epochs`` training epochs have been spent in all. Methods: full-fidelity
``random`` and ``mobo``; ``moasha+random`` and ``moasha+mobo`` (MO-ASHA; min_step 1 and
eta 3 unless ``--min-step``, ``--eta``), ``moasha+mobo-exclude`` and
``moasha+mobo-fidelity`` (``mobo`` with ``stopped: exclude``, the STOPPED trials left out
of its fit, or ``stopped: fidelity``, their step as a model input); MO-ASHA's tie-break
within a non-dominated level is ``--tie-break`` (the scheduler's default, ``epsnet``, unless
given; runs stored before it was recorded used ``crowding``); ``hyperband+random`` and
``hyperband+mobo`` by name only, as are ``moasha-promote+mobo`` and ``moasha-promote+random``
(MO-ASHA with ``promote: true``: a stopped trial that later ranks in its rung's top 1/eta
runs again from epoch 1; its epochs are counted again, and a run records these ``reruns``).
``--n-initial N`` sets the scheduled methods' ``mobo`` option ``n_initial`` (its Sobol
trials; default ``2·(d+1)``), recorded in each run; the full-fidelity methods keep the default.
The hypervolume is that of the COMPLETE (full-fidelity)
trials, against the fixed reference point (error 1.0, the largest model's size), after each
trial, against the epochs spent so far. ``synetune-moasha`` is Syne Tune's MOASHA
scheduler (random configurations, its own rung decisions) around the same evaluator
(:mod:`benchmarks._synetune_moasha`); it needs ``pip install syne-tune`` and is skipped,
with a message, where that is missing.

    .venv/bin/python -m benchmarks.multifidelity --seeds 5
    .venv/bin/python -m benchmarks.multifidelity --summarize   # table + plot from the .jsonl
    .venv/bin/python -m benchmarks.multifidelity --problem mlp6 --max-epochs 27 --epochs 540 \
        --jsonl benchmarks/results/multifidelity-mlp6.jsonl --out benchmarks/results/multifidelity-mlp6.json

Results: ``--out`` (default ``benchmarks/results/multifidelity.json``, the plot beside it)
and the ``--jsonl`` of finished runs, which a rerun resumes (given several files, new runs
go to the first and the summary reads them all); a summary keeps the runs of ``--problem``
and of the rungs, tie-break and ``--n-initial`` given only.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

RESULTS = Path(__file__).parent / "results"
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != RESULTS.parent.resolve()]
METHODS = ["random", "moasha+random", "mobo", "moasha+mobo", "moasha+mobo-exclude", "synetune-moasha",
           "moasha+mobo-fidelity"]
# Also runnable by name (--methods), not in the default set: "hyperband+random", "hyperband+mobo",
# "moasha-promote+random", "moasha-promote+mobo".
SCHEDULED = ("moasha", "hyperband", "synetune")  # methods whose runs depend on the rungs
# The search spaces: "mlp3" (width, depth, lr) and "mlp6", which adds weight decay, batch size
# and dropout, over ranges reaching settings that cannot train well (lr 1, dropout 0.8).
PROBLEMS: dict[str, dict[str, dict[str, Any]]] = {
    "mlp3": {
        "width": {"type": "int", "low": 8, "high": 128, "log": True},
        "depth": {"type": "int", "low": 1, "high": 2},
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    },
    "mlp6": {
        "width": {"type": "int", "low": 8, "high": 256, "log": True},
        "depth": {"type": "int", "low": 1, "high": 3},
        "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
        "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
        "batch": {"type": "int", "low": 16, "high": 512, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.8},
    },
}
PROBLEM = "mlp3"
RUNGS = {"min_step": 1, "eta": 3}  # MO-ASHA's (and Syne Tune's) rungs: ``--min-step``, ``--eta``
TIE_BREAK = {"tie_break": "epsnet"}  # our MO-ASHA's order within a level: ``--tie-break``
# Sobol trials of the scheduled methods' mobo: ``--n-initial`` (None: mobo's default, 2·(d+1)).
N_INITIAL: dict[str, int | None] = {"n_initial": None}
# How our MO-ASHA decides a rung's first eta - 1 reports: "best", only the first ranked
# continues (since this was recorded); runs stored before it let them all continue ("all").
FIRST_REPORTS = "best"
_DATA: dict[int, Any] = {}


def n_params(width: int, depth: int, d_in: int = 40, classes: int = 10) -> int:
    """Weights and biases of the MLP: ``depth`` hidden layers of ``width`` units."""
    sizes = [d_in] + [width] * depth + [classes]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def _data(seed: int = 0) -> Any:
    if seed not in _DATA:
        import torch

        from search_spaces.tasks.vision import load_arrays

        xtr, ytr, xva, yva, _, _ = load_arrays("mnist1d", seed)
        _DATA[seed] = tuple(torch.tensor(a) for a in (xtr.reshape(len(xtr), -1), ytr, xva.reshape(len(xva), -1), yva))
    return _DATA[seed]


def evaluate(p: dict[str, Any], ctx: Any) -> dict[str, float]:
    """Train the MLP for up to MAX_EPOCHS epochs, reporting each epoch through ``ctx.step``.
    Parameters ``weight_decay``, ``batch`` and ``dropout`` (problem ``mlp6``) default to 0,
    128 and 0 (problem ``mlp3``)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(1000 * ctx.seed + ctx.trial_number)
    xtr, ytr, xva, yva = _data()
    width, depth, batch = int(p["width"]), int(p["depth"]), int(p.get("batch", 128))
    layers: list[torch.nn.Module] = []
    d = xtr.shape[1]
    for _ in range(depth):
        layers += [torch.nn.Linear(d, width), torch.nn.ReLU(), torch.nn.Dropout(float(p.get("dropout", 0.0)))]
        d = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(d, 10))
    opt = torch.optim.Adam(model.parameters(), lr=float(p["lr"]), weight_decay=float(p.get("weight_decay", 0.0)))
    values: dict[str, float] = {}
    kparams = n_params(width, depth) / 1000
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = torch.randperm(len(xtr))
        model.train()
        for b in range(0, len(xtr), batch):
            idx = perm[b : b + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            err = float((model(xva).argmax(1) != yva).float().mean())
        values = {"val_err": err, "kparams": kparams}
        if not ctx.step(epoch, values):
            break
    return values


MAX_EPOCHS = 9


def configure(problem: str, min_step: int, eta: int, tie_break: str = "epsnet", n_initial: int | None = None) -> None:
    """Select the search space, MO-ASHA's rungs and tie-break and the scheduled mobo's
    ``n_initial``, here and in the module the custom space and Syne Tune's runner import
    (this file runs as ``__main__``, so that module is a second copy)."""
    import benchmarks.multifidelity as evaluator_module

    global PROBLEM
    PROBLEM = evaluator_module.PROBLEM = problem
    for rungs, tie, init in ((RUNGS, TIE_BREAK, N_INITIAL),
                             (evaluator_module.RUNGS, evaluator_module.TIE_BREAK, evaluator_module.N_INITIAL)):
        rungs.update(min_step=min_step, eta=eta)
        tie.update(tie_break=tie_break)
        init.update(n_initial=n_initial)


class Method(NamedTuple):
    """One of our method names, ``[scheduler[-variant]+]optimizer[-stopped]``: e.g.
    ``moasha-promote+mobo`` (MO-ASHA with ``promote: true``) or ``moasha+mobo-exclude``
    (mobo with ``stopped: exclude``); ``scheduler`` is empty for a full-fidelity method."""

    scheduler: str
    variant: str
    optimizer: str
    stopped: str


def parse_method(method: str) -> Method:
    head, _, tail = method.rpartition("+")
    return Method(*head.partition("-")[::2], *tail.partition("-")[::2])


def spec(method: str, seed: int, max_epochs: int) -> dict[str, Any]:
    m = parse_method(method)
    optimizer: dict[str, Any] = {"name": m.optimizer, "seed": seed}
    if m.optimizer == "mobo" and (m.stopped or m.scheduler):  # a scheduled bare "mobo" names last_value
        optimizer["stopped"] = m.stopped or "last_value"
    if _scheduled_mobo(method) and N_INITIAL["n_initial"] is not None:
        optimizer["n_initial"] = N_INITIAL["n_initial"]
    s: dict[str, Any] = {
        "name": f"mf-{method}-{seed}".replace("+", "-"),
        "space": {
            "name": "custom",
            "params": PROBLEMS[PROBLEM],
            "evaluator": "benchmarks.multifidelity:evaluate",
        },
        # The hypervolume's own reference point, so mobo's EHVI values what the benchmark scores.
        "objectives": [
            {"name": "val_err", "direction": "min", "ref": float(reference()[0])},
            {"name": "kparams", "direction": "min", "ref": float(reference()[1])},
        ],
        "optimizer": optimizer,
        "budget": {"trials": 10_000},
        "executor": {"name": "local"},
    }
    if m.scheduler:
        promote = {"promote": True} if m.variant == "promote" else {}
        s["scheduler"] = {"name": m.scheduler, "max_step": max_epochs, **RUNGS, **TIE_BREAK, **promote}
    return s


def _scheduled_mobo(method: str) -> bool:
    """An MO-ASHA or Hyperband method whose proposals come from mobo (``--n-initial`` applies)."""
    m = parse_method(method)
    return bool(m.scheduler) and m.optimizer == "mobo"


def reference() -> np.ndarray:
    """Error 1.0 and the size of the largest MLP of the current problem."""
    params = PROBLEMS[PROBLEM]
    return np.array([1.0, n_params(params["width"]["high"], params["depth"]["high"]) / 1000])


class Progress:
    """One run's bookkeeping: epochs spent, trials by final state, and the hypervolume of the
    full-fidelity front after each trial (the same for our methods and Syne Tune's)."""

    def __init__(self) -> None:
        self.spent = 0
        self.trace: list[tuple[int, float]] = []
        self.front: list[list[float]] = []
        self.counts = {"COMPLETE": 0, "STOPPED": 0, "FAILED": 0}
        self.fallbacks: collections.Counter[str] = collections.Counter()
        self.reruns = 0  # evaluations of a promoted trial (``moasha-promote``), run again from epoch 1
        self.t0 = time.perf_counter()

    def note_fallbacks(self, fallbacks: list[dict[str, str]]) -> None:
        """Count the optimizer's fallbacks by kind (e.g. a repeated proposal replaced)."""
        self.fallbacks.update(f["fallback"] for f in fallbacks)

    def add(self, steps: int, state: str, values: dict[str, float] | None) -> None:
        from nas.pareto import hypervolume

        self.spent += steps
        self.counts[state] = self.counts.get(state, 0) + 1
        if state == "COMPLETE" and values:
            self.front.append([values["val_err"], values["kparams"]])
        hv = hypervolume(np.array(self.front).reshape(-1, 2), reference()) if self.front else 0.0
        self.trace.append((self.spent, hv))

    def result(self, method: str, seed: int, epochs: int, max_epochs: int) -> dict[str, Any]:
        return {
            "method": method,
            "seed": seed,
            "epochs": epochs,
            "max_epochs": max_epochs,
            "trace": self.trace,
            "counts": self.counts,
            "trials": sum(self.counts.values()) - self.reruns,
            "reruns": self.reruns,
            "fallbacks": dict(self.fallbacks),
            "wall_s": time.perf_counter() - self.t0,
            "problem": PROBLEM,
            **RUNGS,
            **({} if method.startswith("synetune") else {**TIE_BREAK, "first_reports": FIRST_REPORTS}),
            **(N_INITIAL if _scheduled_mobo(method) else {}),
        }


def run_one(method: str, seed: int, epochs: int, max_epochs: int, show: bool = False) -> dict[str, Any]:
    """One study to ``epochs`` epochs spent; the hypervolume after each trial (``show``:
    print each trial as it ends: state, steps run, values and parameters)."""
    import benchmarks.multifidelity as evaluator_module  # the module the custom space imports
    from nas import create_study
    from nas.runner import evaluate_trial

    evaluator_module.MAX_EPOCHS = max_epochs
    with tempfile.TemporaryDirectory() as tmp:
        study = create_study(spec(method, seed, max_epochs), storage=f"sqlite:///{tmp}/mf.db")
        run = Progress()
        while run.spent < epochs:
            (trial,) = study.ask(1)
            run.reruns += bool(trial.metrics.get("promoted_at_steps"))
            done = evaluate_trial(study, trial)
            run.add(len(study.store.steps(done.id)), done.state.value, done.values)
            run.note_fallbacks(done.metrics.get("optimizer", {}).get("fallbacks", []))
            if show:
                print(trial_line(done, run), flush=True)
        return run.result(method, seed, epochs, max_epochs)


def trial_line(t: Any, run: Progress) -> str:
    v, p = t.values or {}, t.params
    params = " ".join(f"{k}={x:.2g}" if isinstance(x, float) else f"{k}={x}" for k, x in p.items())
    return (f"{t.number:4d} {t.state.value:8s} epochs spent {run.spent:4d} HV {run.trace[-1][1]:7.2f} "
            f"val_err {v.get('val_err', float('nan')):.3f} kparams {v.get('kparams', float('nan')):6.1f}  {params}")


def hv_at(trace: list[list[float]], e: float) -> float:
    """Hypervolume after the last trial that finished within ``e`` epochs."""
    hv = 0.0
    for spent, h in trace:
        if spent > e:
            break
        hv = h
    return hv


def epochs_to_reach(trace: list[list[float]], target: float) -> float | None:
    for spent, h in trace:
        if h >= target - 1e-12:
            return spent
    return None


def median_curve(runs: list[dict[str, Any]], grid: Any) -> np.ndarray:
    """The median (over ``runs``) hypervolume after each number of epochs in ``grid``."""
    return np.median([[hv_at(r["trace"], e) for e in grid] for r in runs], axis=0)


def median_curve_reaches(runs: list[dict[str, Any]], target: float, budget: int) -> int | None:
    """The first whole epoch at which the median (over ``runs``) hypervolume is ``target`` or more."""
    median = median_curve(runs, range(budget + 1))
    hit = np.flatnonzero(median >= target - 1e-12)
    return int(hit[0]) if len(hit) else None


def full_mobo_median_final(runs: list[dict[str, Any]], budget: float) -> float | None:
    """The median over seeds of full-fidelity mobo's hypervolume at ``budget`` (None without its runs)."""
    finals = [hv_at(r["trace"], budget) for r in runs if r["method"] == "mobo"]
    return float(np.median(finals)) if finals else None


def methods_of(runs: list[dict[str, Any]]) -> list[str]:
    """The methods present in ``runs``: the default set's order first, then the others."""
    return METHODS + sorted({r["method"] for r in runs} - set(METHODS))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    budget = min(r["epochs"] for r in runs)
    out: dict[str, Any] = {"epochs_budget": budget, "methods": {}}
    full_mobo = [r for r in runs if r["method"] == "mobo"]
    target = full_mobo_median_final(runs, budget)
    for m in methods_of(runs):
        rs = [r for r in runs if r["method"] == m]
        if not rs:
            continue
        finals = [hv_at(r["trace"], budget) for r in rs]
        row = {
            "seeds": len(rs),
            "median_final_hv": float(np.median(finals)),
            "final_hv": finals,
            "median_hv_at_third": float(np.median([hv_at(r["trace"], budget / 3) for r in rs])),
            "seed_ids": [r["seed"] for r in rs],  # the runs' order in the per-run lists
            "hv_at_third": [hv_at(r["trace"], budget / 3) for r in rs],
            "median_trials": float(np.median([r["trials"] for r in rs])),
            "median_stopped": float(np.median([r["counts"].get("STOPPED", 0) for r in rs])),
            "median_wall_s": float(np.median([r["wall_s"] for r in rs])),
        }
        if target is not None:  # epochs each run needed to reach full mobo's final HV of the same seed
            need = []
            for r in rs:
                ref = next((x for x in full_mobo if x["seed"] == r["seed"]), None)
                if ref is not None:
                    need.append(epochs_to_reach(r["trace"], hv_at(ref["trace"], budget)))
            row["epochs_to_full_mobo_final_hv"] = need
            row["median_curve_epochs_to_full_mobo_median_final"] = median_curve_reaches(rs, target, budget)
        out["methods"][m] = row
    return out


def paired(a: Path, b: Path, ranges: list[str] | None, method: str = "moasha+mobo") -> list[str]:
    """Seed by seed at a third of the budget, from two summaries (``--out`` files): on how
    many of the seeds both hold is ``method`` of ``a`` ahead of that of ``b``, and behind,
    over all of them and over each range ``lo-hi`` of ``ranges``."""
    rows = [json.loads(p.read_text())["summary"]["methods"][method] for p in (a, b)]
    first, second = (dict(zip(r["seed_ids"], r["hv_at_third"], strict=True)) for r in rows)
    common = sorted(first.keys() & second.keys())
    lines = []
    for rng in ["all", *(ranges or [])]:
        lo, hi = (common[0], common[-1]) if rng == "all" else map(int, rng.split("-"))
        seeds = [x for x in common if lo <= x <= hi]
        ahead, behind = sum(first[x] > second[x] for x in seeds), sum(first[x] < second[x] for x in seeds)
        lines.append(f"{method}, seeds {rng} ({len(seeds)}): {a.name} ahead of {b.name} at a third on "
                     f"{ahead}, behind on {behind}")
    return lines


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = min(r["epochs"] for r in runs)
    grid = np.linspace(0, budget, 100)
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in methods_of(runs):
        rs = [r for r in runs if r["method"] == m]
        if rs:
            ax.plot(grid, median_curve(rs, grid), label=f"{m} (median of {len(rs)})")
    target = full_mobo_median_final(runs, budget)
    if target is not None:  # the goal: reach full mobo's final hypervolume within a third of the epochs
        ax.axhline(target, color="grey", ls="--", lw=0.8, label="full mobo's final (median)")
        ax.axvline(budget / 3, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("training epochs spent")
    ax.set_ylabel("hypervolume of full-fidelity trials")
    tie = TIE_BREAK["tie_break"]
    init = N_INITIAL["n_initial"]
    init_note = "" if init is None else f", its mobo's n_initial: {init}"
    ax.set_title(f"MLP on mnist1d ({PROBLEM}): val error vs parameters\nour MO-ASHA tie-break: {tie}{init_note}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| method | seeds | median HV at budget | median HV at budget/3 | trials (median) | stopped (median) |",
        "|---|---|---|---|---|---|",
    ]
    for m, r in summary["methods"].items():
        lines.append(
            f"| {m} | {r['seeds']} | {r['median_final_hv']:.4f} | {r['median_hv_at_third']:.4f} | "
            f"{r['median_trials']:.0f} | {r['median_stopped']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed+seeds-1")
    ap.add_argument("--epochs", type=int, default=180, help="training epochs per run (all trials together)")
    ap.add_argument("--max-epochs", type=int, default=9, help="epochs of one full-fidelity trial")
    ap.add_argument("--problem", choices=list(PROBLEMS), default="mlp3", help="search space of the MLP")
    ap.add_argument("--out", type=Path, default=RESULTS / "multifidelity.json", help="summary (and .png beside it)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--jsonl", type=Path, nargs="+", default=[RESULTS / "multifidelity.jsonl"],
                    help="finished runs: new ones are appended to the first file; all are read")
    ap.add_argument("--min-step", type=int, default=1, help="MO-ASHA's first rung (epochs)")
    ap.add_argument("--eta", type=int, default=3, help="MO-ASHA's reduction factor")
    from nas.schedulers._rank import TIE_BREAKS

    ap.add_argument("--tie-break", choices=TIE_BREAKS, default="epsnet",
                    help="our MO-ASHA's order within a non-dominated level (Syne Tune's is its own)")
    ap.add_argument("--n-initial", type=int, help="Sobol trials of the MO-ASHA and Hyperband methods' mobo "
                    "(default: mobo's, 2·(d+1)); the full-fidelity methods keep mobo's default")
    ap.add_argument("--paired", nargs=2, type=Path, metavar=("A", "B"),
                    help="compare two summaries' moasha+mobo seed by seed at a third of the budget, and exit")
    ap.add_argument("--paired-seeds", nargs="+", metavar="LO-HI", help="seed ranges for --paired (also all seeds)")
    ap.add_argument("--show", metavar="METHOD:SEED", help="run one of our methods once, printing every trial "
                    "as it ends (nothing is written)")
    args = ap.parse_args()
    if args.paired:
        print("\n".join(paired(*args.paired, args.paired_seeds)))
        return
    configure(args.problem, args.min_step, args.eta, args.tie_break, args.n_initial)
    import logging

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)
    if args.show:
        method, _, seed = args.show.partition(":")
        run_one(method, int(seed or 0), args.epochs, args.max_epochs, show=True)
        return
    RESULTS.mkdir(exist_ok=True)
    jsonl = args.jsonl[0]  # where new runs go
    if not args.summarize:
        done = {(r["method"], r["seed"]) for r in _read(*args.jsonl) if _same_setting(r, args.problem)}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for m in args.methods.split(","):
                if (m, seed) in done or not _available(m):
                    continue
                r = _run(m, seed, args.epochs, args.max_epochs)
                with jsonl.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                print(
                    f"{m} seed {seed}: HV {r['trace'][-1][1]:.4f}, {r['trials']} trials {r['counts']}, "
                    f"{r['wall_s']:.0f} s",
                    flush=True,
                )
    runs = [r for r in _read(*args.jsonl) if _same_setting(r, args.problem)]
    summary = summarize(runs)
    summary["settings"] = {
        "task": "mnist1d MLP",
        "max_epochs": args.max_epochs,
        "problem": args.problem,
        "params": PROBLEMS[args.problem],
        **RUNGS,
        **TIE_BREAK,
        "first_reports": FIRST_REPORTS,
        **N_INITIAL,
        "reference": reference().tolist(),
        "syne_tune": _syne_tune_version(),
    }
    args.out.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    plot(runs, args.out.with_suffix(".png"))
    print(table(summary))


def _same_setting(run: dict[str, Any], problem: str) -> bool:
    """A stored run of this ``--problem`` and, for the early-stopping methods, these rungs
    and, for ours, this tie-break and today's rule for a rung's first reports (runs written
    before these were recorded used min_step 1, eta 3, ``crowding`` and ``all``) and, for
    ours with mobo, this ``--n-initial`` (None before it was recorded: mobo's default)."""
    if run.get("problem", "mlp3") != problem:
        return False
    if not run["method"].startswith(SCHEDULED):
        return True
    same_rungs = all(run.get(k, d) == RUNGS[k] for k, d in (("min_step", 1), ("eta", 3)))
    ours = not run["method"].startswith("synetune")
    same_rule = run.get("tie_break", "crowding") == TIE_BREAK["tie_break"] and (
        run.get("first_reports", "all") == FIRST_REPORTS
    )
    same_init = not _scheduled_mobo(run["method"]) or run.get("n_initial") == N_INITIAL["n_initial"]
    return same_rungs and (not ours or (same_rule and same_init))


def _run(method: str, seed: int, epochs: int, max_epochs: int) -> dict[str, Any]:
    if method == "synetune-moasha":
        from benchmarks._synetune_moasha import run

        return run(seed, epochs, max_epochs, **RUNGS)
    return run_one(method, seed, epochs, max_epochs)


def _syne_tune_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syne-tune")
    except PackageNotFoundError:
        return None


def _available(method: str) -> bool:
    if method == "synetune-moasha" and _syne_tune_version() is None:
        print("synetune-moasha skipped: Syne Tune is not installed (pip install syne-tune)", flush=True)
        return False
    return True


def _read(*paths: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for p in paths if p.exists() for x in p.read_text().splitlines() if x.strip()]


if __name__ == "__main__":
    main()
