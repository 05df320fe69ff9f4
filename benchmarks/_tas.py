"""TAS benchmark (not a test): TAS-pruned networks against uniform channel scaling and against
L1-norm filter pruning at equal FLOPs, each trained with the same distillation budget.

    nice -n 10 .venv/bin/python -m benchmarks.differentiable --space tas   # ~20 min on one busy core

The TAS half of :mod:`benchmarks.differentiable` (the RARTS half lives there).

For each seed the unpruned residual CNN of the ``tas`` space is trained once (cached), then
for each FLOPs target one TAS search (the paper's settings: temperature 10 → 0.1, λ = 2)
gives a network, brought inside the ±5 % FLOPs band (``--derive argmax`` keeps the search's
most likely network as it is); the uniformly scaled network with the FLOPs closest to it is built, and
three networks are trained for ``kd_epochs`` by distillation from the unpruned one: the TAS
network and the uniform one from scratch, and the uniform widths holding the unpruned
filters of largest L1 norm (so L1 starts from trained weights, the others do not). A fourth
network, ``tas_l1``, is the TAS architecture started the way L1 is (its widths holding the
unpruned filters of largest L1 norm, its first blocks per stage), so TAS and uniform widths
are also compared at an equal start: TAS against uniform from scratch, TAS inherited against
L1. Test accuracy is reported; nothing is picked on it. Writes ``benchmarks/results/tas.json`` (after
every target, so a cut-short run keeps what it finished) and ``tas.png``, and prints a
markdown table of medians over seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from search_spaces.tas import TasSpace
from search_spaces.tas.arch import Arch, flops, full_arch, uniform_at_flops
from search_spaces.tas.model import l1_pruned
from search_spaces.tas.train import SearchSettings, accuracy

RESULTS = Path(__file__).parent / "results"
METHODS = ("tas", "uniform", "l1", "tas_l1")
VERSUS = (("tas", "uniform"), ("tas", "l1"), ("tas_l1", "l1"))  # (ours, peer) differences reported


def run_one(space: TasSpace, name: str, arch: Arch, init_l1: bool) -> dict[str, Any]:
    """Distil ``arch`` (from scratch, or from the L1-pruned unpruned network) and measure it."""
    start = time.perf_counter()
    init = l1_pruned(space.teacher, arch) if init_l1 else None
    model, _ = space.distil(arch, init=init)
    d, g = space.data, space.geometry
    return {
        "method": name,
        "flops": flops(arch, g),
        "flops_ratio": flops(arch, g) / flops(full_arch(g), g),
        "val_accuracy": accuracy(model, d.x_val, d.y_val),
        "test_accuracy": accuracy(model, d.x_test, d.y_test),
        "arch": arch.to_json(),
        "train_s": time.perf_counter() - start,
    }


def one_target(space: TasSpace, target: float, search_epochs: int, derive: str = "band") -> list[dict[str, Any]]:
    """The four networks at one target; ``derive="argmax"`` takes the search's most likely
    network as it is, without bringing it inside the FLOPs band (an ablation)."""
    start = time.perf_counter()
    found = space.run_search(SearchSettings(target=target, epochs=search_epochs))
    search_s = time.perf_counter() - start
    arch = found.arch if derive == "band" else found.argmax
    uniform = uniform_at_flops(space.geometry, flops(arch, space.geometry))
    rows = [
        {**run_one(space, "tas", arch, False), "search_s": search_s},
        run_one(space, "uniform", uniform, False),
        run_one(space, "l1", uniform, True),
        run_one(space, "tas_l1", arch, True),
    ]
    return [{**r, "target": target, "seed": space.settings.seed} for r in rows]


def summary(runs: list[dict[str, Any]], targets: list[float]) -> list[dict[str, Any]]:
    """Per target: median test accuracy and FLOPs ratio of each method over seeds, and the
    per-seed accuracy differences of each pair in :data:`VERSUS`."""
    out = []
    for t in targets:
        by = {
            m: sorted((r for r in runs if r["target"] == t and r["method"] == m), key=lambda r: r["seed"])
            for m in METHODS
        }
        if not by["tas"]:
            continue
        row: dict[str, Any] = {"target": t, "seeds": len(by["tas"])}
        for m in (m for m in METHODS if by[m]):
            row[f"{m}_test_accuracy"] = statistics.median(r["test_accuracy"] for r in by[m])
            row[f"{m}_flops_ratio"] = statistics.median(r["flops_ratio"] for r in by[m])
        for a, b in ((a, b) for a, b in VERSUS if by[a] and by[b]):
            diffs = [x["test_accuracy"] - y["test_accuracy"] for x, y in zip(by[a], by[b], strict=True)]
            row[f"{a}_minus_{b}_median"] = statistics.median(diffs)
            row[f"{a}_minus_{b}"] = diffs
            row[f"{a}_minus_{b}_seeds_at_least_0"] = sum(d >= 0 for d in diffs)
        out.append(row)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| FLOPs target | TAS FLOPs | TAS acc | uniform FLOPs | uniform acc | L1 acc | TAS inherited acc "
        "| TAS − uniform | TAS − L1 | TAS inherited − L1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']:.1f} | {r['tas_flops_ratio']:.3f} | {r['tas_test_accuracy']:.4f} | "
            f"{r['uniform_flops_ratio']:.3f} | {r['uniform_test_accuracy']:.4f} | "
            f"{r['l1_test_accuracy']:.4f} | {r.get('tas_l1_test_accuracy', float('nan')):.4f} | "
            f"{r['tas_minus_uniform_median']:+.4f} | {r['tas_minus_l1_median']:+.4f} | "
            f"{r.get('tas_l1_minus_l1_median', float('nan')):+.4f} |"
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path, task: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for m, marker in zip(METHODS, "o^sD", strict=True):
        pts = [(r["flops_ratio"], r["test_accuracy"]) for r in runs if r["method"] == m]
        if not pts:
            continue
        ax.scatter(*zip(*pts, strict=True), marker=marker, label=m, alpha=0.75)
    ax.set_xlabel("FLOPs / unpruned FLOPs")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"TAS vs uniform scaling vs L1 pruning ({task}, KD, equal FLOPs)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="benchmarks.differentiable --space tas", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="digits")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--targets", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    ap.add_argument("--search-epochs", type=int, default=6)
    ap.add_argument("--kd-epochs", type=int, default=15)
    ap.add_argument("--out", default=str(RESULTS / "tas.json"))
    ap.add_argument(
        "--derive", choices=["band", "argmax"], default="band", help="argmax: skip bringing TAS's network into the band"
    )
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="only merge finished runs (other seeds) into --out")
    args = ap.parse_args(argv)
    if args.merge:
        return merge([Path(f) for f in args.merge], Path(args.out))
    torch.set_num_threads(1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "task": args.task,
        "seeds": args.seeds,
        "targets": args.targets,
        "search_epochs": args.search_epochs,
        "derive": args.derive,
        "kd_epochs": args.kd_epochs,
        "search": "tau 10 -> 0.1 linear, cost_weight 2, tolerance 0.05, weights from the unpruned net",
        "teacher_epochs": 20,
        "threads": 1,
    }
    runs: list[dict[str, Any]] = []
    start = time.perf_counter()
    for seed in args.seeds:
        space = TasSpace({"task": args.task, "seed": seed, "kd_epochs": args.kd_epochs})
        t0 = time.perf_counter()
        teacher_acc = accuracy(space.teacher, space.data.x_test, space.data.y_test)
        print(f"seed {seed}: unpruned test accuracy {teacher_acc:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        for target in args.targets:
            rows = one_target(space, target, args.search_epochs, args.derive)
            runs += [{**r, "unpruned_test_accuracy": teacher_acc} for r in rows]
            print(
                " ".join(f"{r['method']}={r['test_accuracy']:.4f}@{r['flops_ratio']:.3f}" for r in rows),
                f"target {target} seed {seed}",
                flush=True,
            )
            result = {
                "settings": settings,
                "summary": summary(runs, args.targets),
                "runs": runs,
                "wall_s": time.perf_counter() - start,
                "complete": False,
            }
            out.write_text(json.dumps(result, indent=1))
    result["complete"] = True
    out.write_text(json.dumps(result, indent=1))
    plot(runs, out.with_suffix(".png"), args.task)
    print(table(result["summary"]))


def merge(parts: list[Path], out: Path) -> None:
    """One result from runs of the same settings over different seeds: the summary is
    recomputed over every seed."""
    docs = [json.loads(f.read_text()) for f in parts]
    # Results written before ``derive`` was recorded (2859d09) were derived with the band step.
    same = [{"derive": "band", **{k: v for k, v in d["settings"].items() if k != "seeds"}} for d in docs]
    if any(x != same[0] for x in same):
        raise SystemExit(f"--merge: the runs' settings differ: {same}")
    seeds = [seed for d in docs for seed in d["settings"]["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"--merge: a seed appears twice: {seeds}")
    runs = sorted((r for d in docs for r in d["runs"]), key=lambda r: (r["target"], r["seed"]))
    targets = sorted({r["target"] for r in runs})
    settings = {**docs[0]["settings"], "seeds": sorted(seeds), "merged_from": [str(f) for f in parts]}
    result = {"settings": settings, "summary": summary(runs, targets), "runs": runs,
              "wall_s": sum(d["wall_s"] for d in docs), "complete": all(d["complete"] for d in docs)}
    out.write_text(json.dumps(result, indent=1))
    plot(runs, out.with_suffix(".png"), settings["task"])
    print(table(result["summary"]))


if __name__ == "__main__":
    main()
