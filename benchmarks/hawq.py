"""HAWQ benchmark (not a test): Hessian-trace speed against PyHessian, and ILP-chosen
mixed precision against uniform precision at equal model size.

    .venv/bin/pip install pyhessian      # the 'bench' extra
    .venv/bin/python -m benchmarks.hawq  # ~1-2 min on one core (run as a module from the repo root)

Writes ``benchmarks/results/hawq.json`` and ``benchmarks/results/hawq.png`` and prints a
markdown table. Each size row has uniform precision, the ILP's Ω-optimal assignment and the
allocator's pick among the ILP's near-optimal candidates checked on the validation split
(:mod:`search_spaces.hawq.allocate`); the test split decides only the reported accuracies.
:func:`search_study` runs a real 40-trial ``hawq`` study (``mobo`` by default) and sets its
Pareto front against those points.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from proxies.hessian import hutchinson_traces, layer_weights, model_trace
from search_spaces import make_space
from search_spaces.hawq import HawqSpace
from search_spaces.hawq.allocate import checked_allocation

RESULTS = Path(__file__).parent / "results"
CE = nn.functional.cross_entropy


def time_ours(model: nn.Module, batch: tuple, n_probes: int) -> float:
    """Seconds for per-layer traces with our estimator (graph built once, fixed probe count)."""
    start = time.perf_counter()
    hutchinson_traces(model, CE, [batch], max_iter=n_probes, min_iter=n_probes, tol=1e-12)
    return time.perf_counter() - start


def time_pyhessian(model: nn.Module, batch: tuple, n_probes: int) -> float:
    """Seconds for the same per-layer traces with PyHessian's public pieces, doing the same
    work as ours: its ``hessian`` object (the gradient graph), then per probe one
    ``hessian_vector_product`` restricted to the layer weights (the parameters ours probes)
    and the per-layer products ``v_iᵀ(Hv)_i`` (as the HAWQ repositories do)."""
    from pyhessian import hessian
    from pyhessian.utils import group_product, hessian_vector_product

    model.zero_grad(set_to_none=True)  # PyHessian accumulates into .grad: start clean each run
    start = time.perf_counter()
    h = hessian(model, CE, data=batch, cuda=False)
    weight_ids = {id(w) for w in layer_weights(model).values()}
    keep = [i for i, p in enumerate(h.params) if id(p) in weight_ids]
    params, grads = [h.params[i] for i in keep], [h.gradsH[i] for i in keep]
    sums = [0.0] * len(keep)
    for _ in range(n_probes):
        v = [torch.randint_like(p, high=2) * 2 - 1 for p in params]
        hv = hessian_vector_product(grads, params, v)
        for j in range(len(keep)):
            sums[j] += group_product([hv[j]], [v[j]]).item()
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)  # drop the graph PyHessian left in .grad
    return elapsed


def time_ours_model(model: nn.Module, batch: tuple, n_probes: int) -> float:
    """Seconds for the whole model's trace (every parameter) with our estimator."""
    start = time.perf_counter()
    model_trace(model, CE, [batch], max_iter=n_probes, min_iter=n_probes, tol=1e-12)
    return time.perf_counter() - start


def time_pyhessian_model(model: nn.Module, batch: tuple, n_probes: int) -> float:
    """Seconds for PyHessian's own ``hessian(model, criterion, data).trace()`` with the same
    number of probes (``tol=0``: it never stops early on a positive trace; checked)."""
    from pyhessian import hessian

    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    samples = hessian(model, CE, data=batch, cuda=False).trace(maxIter=n_probes, tol=0.0)
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    if len(samples) != n_probes:
        raise RuntimeError(f"PyHessian stopped after {len(samples)} of {n_probes} probes: not equal work")
    return elapsed


def _compare(ours_fn: Any, theirs_fn: Any, model: nn.Module, batch: tuple, n_probes: int,
             repeats: int) -> dict[str, Any]:
    ours_fn(model, batch, 8), theirs_fn(model, batch, 8)  # warm up both paths
    ours, theirs = [], []
    for _ in range(repeats):  # interleaved so machine load hits both alike
        ours.append(ours_fn(model, batch, n_probes))
        theirs.append(theirs_fn(model, batch, n_probes))
    mo, mt = statistics.median(ours), statistics.median(theirs)
    return {"ours_s": mo, "pyhessian_s": mt, "ratio": mo / mt, "ours_all_s": ours, "pyhessian_all_s": theirs}


def speed(space: HawqSpace, n_probes: int, repeats: int) -> dict[str, Any]:
    """Median times ours / PyHessian on the built-in model and its first training batch:
    per-layer traces (equal-work loop) and the whole model's trace (PyHessian's ``trace()``)."""
    model, batch = space.task.model, space.task.train[0]
    return {"model": space.settings.task, "batch": len(batch[1]), "probes": n_probes, "repeats": repeats,
            "per_layer": _compare(time_ours, time_pyhessian, model, batch, n_probes, repeats),
            "whole_model": _compare(time_ours_model, time_pyhessian_model, model, batch, n_probes, repeats)}


def speed_markdown(s: dict[str, Any]) -> list[str]:
    lines = ["| measure | ours | PyHessian | ratio ours / PyHessian |", "|---|---|---|---|"]
    for key, what in (("per_layer", "per-layer traces (PyHessian: an equal-work loop over its helpers)"),
                      ("whole_model", "whole-model trace (PyHessian: `hessian(...).trace()`)")):
        r = s[key]
        lines.append(f"| {what}, {s['model']} CNN, batch {s['batch']}, {s['probes']} probes (median of "
                     f"{s['repeats']}) | {r['ours_s']:.3f} s | {r['pyhessian_s']:.3f} s | {r['ratio']:.2f} |")
    return lines


def quality(space: HawqSpace, uniform_bits: Sequence[int]) -> list[dict[str, Any]]:
    """For each uniform width: its test accuracy, and at the same model size the test accuracy
    of (a) the ILP's Ω-optimal assignment and (b) the allocator's pick among the ILP's
    near-optimal candidates, checked on the validation split (the test split is not seen)."""
    rows = []
    for b in uniform_bits:
        uniform = dict.fromkeys(space.layers, b)
        limit = space.costs.totals([b] * len(space.layers))["size_mb"]
        choice = checked_allocation(space, {"size_mb": limit})
        ilp, mixed = choice.ilp, choice.picked
        rows.append({"uniform_bits": b, "size_mb": limit,
                     "uniform_acc": space.quantized_accuracy(uniform),
                     "uniform_val_acc": space.measure(uniform, space.task.val)[0],
                     "ilp_bits": ilp.bits, "ilp_size_mb": ilp.costs["size_mb"],
                     "ilp_acc": space.quantized_accuracy(ilp.bits), "ilp_val_acc": ilp.accuracy,
                     "mixed_bits": mixed.bits, "mixed_size_mb": mixed.costs["size_mb"],
                     "mixed_acc": space.quantized_accuracy(mixed.bits), "mixed_val_acc": mixed.accuracy,
                     "mixed_is_uniform": len(set(mixed.bits.values())) == 1,
                     "vs_uniform": paired_difference(space, mixed.bits, uniform),
                     "candidates": len(choice.candidates), "checked_on": choice.checked_on,
                     "uniform_omega": space.omega_of(uniform), "ilp_omega": ilp.omega,
                     "mixed_omega": mixed.omega})
    return rows


def paired_difference(space: HawqSpace, a: dict[str, int], b: dict[str, int]) -> dict[str, Any]:
    """Test images ``a`` gets right and ``b`` wrong minus the reverse, with McNemar's standard
    error ``sqrt(discordant)``: a difference within 2 s.e. is noise of the test set."""
    right = [_correct(space, bits) for bits in (a, b)]
    wins = int((right[0] & ~right[1]).sum())
    losses = int((~right[0] & right[1]).sum())
    return {"wins": wins, "losses": losses, "diff": wins - losses, "se": (wins + losses) ** 0.5,
            "n_test": int(right[0].numel())}


def _correct(space: HawqSpace, bits: dict[str, int]) -> torch.Tensor:
    with space.quantized(bits) as model, torch.no_grad():
        return torch.cat([model(x).argmax(1) == y for x, y in space.task.test])


def search_study(seed: int, n_trials: int, optimizer: str = "mobo", task: str = "digits") -> dict[str, Any]:
    """Run a real ``hawq`` study (``n_trials``, the given optimizer, local executor, a
    temporary SQLite store) and return its trials and Pareto front (accuracy, size, BOPs)."""
    import tempfile

    from nas import create_study

    spec = {"name": f"hawq-bench-{optimizer}", "space": {"name": "hawq", "options": {"seed": seed, "task": task}},
            "optimizer": {"name": optimizer, "seed": seed}, "budget": {"trials": n_trials},
            "executor": {"name": "local"}}
    study = create_study(spec, storage=f"sqlite:///{tempfile.mkdtemp()}/hawq.db")
    t0 = time.perf_counter()
    study.optimize()
    front = {t.number for t in study.pareto_front()}
    return {"optimizer": optimizer, "seconds": time.perf_counter() - t0,
            "trials": [{"number": t.number, **(t.values or {}), "test_accuracy": t.metrics["test_accuracy"],
                        "pareto": t.number in front,
                        "bits": {k.removeprefix("bits."): v for k, v in t.params.items()}}
                       for t in study.trials("COMPLETE")]}


def front_vs_points(search: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How the study's front compares with the uniform and ILP points of the same seed: for
    each point, the test accuracy of the study's choice at no larger size (the trial of best
    validation accuracy, the study's own objective: the test split is not used to choose)."""
    trials = search["trials"]
    out = []
    for r in rows:
        for kind, size, acc in (("uniform", r["size_mb"], r["uniform_acc"]),
                                ("ILP Ω-optimum", r["ilp_size_mb"], r["ilp_acc"]),
                                ("checked pick", r["mixed_size_mb"], r["mixed_acc"])):
            found = [t for t in trials if t["size_mb"] <= size + 1e-12]
            best = max(found, key=lambda t: (t["accuracy"], -t["size_mb"])) if found else None
            out.append({"kind": kind, "bits": r["uniform_bits"], "size_mb": size, "accuracy": acc,
                        "study_best_at_size": best["test_accuracy"] if best else None})
    return {"points": out}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for seed_rows in result["quality"]:
        rows = seed_rows["rows"]
        ax.plot([r["size_mb"] for r in rows], [r["uniform_acc"] for r in rows], "o--", color="tab:gray",
                alpha=0.7, label="uniform" if seed_rows["seed"] == 0 else None)
        ax.plot([r["ilp_size_mb"] for r in rows], [r["ilp_acc"] for r in rows], "x:", color="tab:orange",
                alpha=0.7, label="ILP Ω-optimum (same size limit)" if seed_rows["seed"] == 0 else None)
        ax.plot([r["mixed_size_mb"] for r in rows], [r["mixed_acc"] for r in rows], "s-", color="tab:red",
                alpha=0.7, label="checked pick (same size limit)" if seed_rows["seed"] == 0 else None)
    if "search" in result:
        tr = result["search"]["trials"]
        ax.scatter([t["size_mb"] for t in tr if not t["pareto"]], [t["test_accuracy"] for t in tr if not t["pareto"]],
                   s=12, color="tab:blue", alpha=0.35, label=f"{result['search']['optimizer']} study trials")
        ax.scatter([t["size_mb"] for t in tr if t["pareto"]], [t["test_accuracy"] for t in tr if t["pareto"]],
                   s=30, color="tab:blue", marker="D", label="study Pareto front (acc, size, BOPs)")
    title = f"{result.get('task', 'digits')} CNN: mixed vs uniform"
    ax.set(xlabel="model size (MB)", ylabel="held-out accuracy", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict[str, Any]) -> str:
    lines = [*speed_markdown(result["speed"]), "",
             "| seed | uniform bits | size MB | uniform acc | ILP Ω-optimum bits | its acc "
             "| checked pick bits | pick acc | pick − uniform (test images ± s.e.) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for q in result["quality"]:
        for r in q["rows"]:
            v = r["vs_uniform"]
            lines.append(f"| {q['seed']} | {r['uniform_bits']} | {r['size_mb']:.4f} | {r['uniform_acc']:.4f} "
                         f"| {_bits(r['ilp_bits'])} | {r['ilp_acc']:.4f} | {_bits(r['mixed_bits'])} "
                         f"| {r['mixed_acc']:.4f} | {v['diff']:+d} ± {v['se']:.1f} of {v['n_test']} |")
    lines += ["", *summary_lines(result)]
    if "search" in result:
        srch = result["search"]
        head = f"{len(srch['trials'])}-trial `{srch['optimizer']}` study (seed {result['quality'][0]['seed']})"
        lines += ["", f"| {head}: point | size MB | its accuracy | test acc. of the study's choice at ≤ that size |",
                  "|---|---|---|---|"]
        for p in srch["points"]:
            best = "—" if p["study_best_at_size"] is None else f"{p['study_best_at_size']:.4f}"
            lines.append(f"| {p['kind']} {p['bits']}-bit size | {p['size_mb']:.4f} | {p['accuracy']:.4f} | {best} |")
    return "\n".join(lines)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """How often the checked pick and the bare ILP optimum match or beat uniform precision."""
    rows = [r for q in result["quality"] for r in q["rows"]]
    out = []
    for key, name in (("mixed_acc", "checked pick"), ("ilp_acc", "ILP Ω-optimum")):
        ok = sum(r[key] >= r["uniform_acc"] for r in rows)
        out.append(f"- {name} ≥ uniform: {ok} of {len(rows)} (seed, size) cases")
    worse = [r for r in rows if r["vs_uniform"]["diff"] < -2 * r["vs_uniform"]["se"]]
    better = [r for r in rows if r["vs_uniform"]["diff"] > 2 * r["vs_uniform"]["se"]]
    out.append(f"- checked pick worse than uniform by more than 2 s.e.: {len(worse)}; better: {len(better)}")
    for b in sorted({r["uniform_bits"] for r in rows}):
        diffs = sorted(r["mixed_acc"] - r["uniform_acc"] for r in rows if r["uniform_bits"] == b)
        out.append(f"- {b}-bit size: median pick − uniform {statistics.median(diffs):+.4f} "
                   f"(per seed {', '.join(f'{d:+.4f}' for d in diffs)})")
    return out


def _bits(bits: dict[str, int]) -> str:
    return "/".join(str(b) for b in bits.values())


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--uniform", type=int, nargs="+", default=[3, 4, 5, 6, 8])
    ap.add_argument("--search-trials", type=int, default=40, help="trials of the hawq study (0: skip)")
    ap.add_argument("--optimizer", default="mobo", help="optimizer of the hawq study")
    ap.add_argument("--task", default="digits", choices=["digits", "mnist1d"],
                    help="built-in task; results go to hawq.json (digits) or hawq-<task>.json")
    ap.add_argument("--speed-only", action="store_true",
                    help="only the trace timings, to benchmarks/results/hawq-speed.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
    if args.speed_only:
        return _speed_only(args)
    spaces = {seed: make_space("hawq", {"seed": seed, "task": args.task}) for seed in args.seeds}
    result: dict[str, Any] = {"torch": torch.__version__, "threads": 1,
                              "speed": speed(spaces[args.seeds[0]], args.probes, args.repeats),
                              "quality": [{"seed": s, "float_acc": sp.task.float_accuracy,
                                           "rows": quality(sp, args.uniform)} for s, sp in spaces.items()]}
    if args.search_trials:
        seed = args.seeds[0]
        result["search"] = search_study(seed, args.search_trials, args.optimizer, args.task)
        rows = next(q["rows"] for q in result["quality"] if q["seed"] == seed)
        result["search"].update(front_vs_points(result["search"], rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "hawq" if args.task == "digits" else f"hawq-{args.task}"
    result["task"] = args.task
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    plot(result, RESULTS / f"{stem}.png")
    print(markdown(result))
    return result


def _speed_only(args: argparse.Namespace) -> dict[str, Any]:
    space = make_space("hawq", {"seed": args.seeds[0], "task": args.task})
    result = {"torch": torch.__version__, "threads": 1, "speed": speed(space, args.probes, args.repeats)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hawq-speed.json").write_text(json.dumps(result, indent=2))
    print("\n".join(speed_markdown(result["speed"])))
    return result


if __name__ == "__main__":
    main()
