"""P-Sigmoid benchmark (not a test): per-layer token budgets on the fine-tuned MiniLM-L6 (BBC News).

    NAS_CACHE_DIR=/work/cache nice -n 10 .venv/bin/python -m benchmarks.psigmoid   # from the repo root

At each FLOPs budget (default 30%, 50%, 70% of the unreduced encoder) it compares, at the
same FLOPs (every schedule is fitted to the budget by :func:`fit_budget`):

* **P-Sigmoid + mobo**: a real ``psigmoid`` study (``mobo``, ``--trials`` trials, local
  executor, a temporary SQLite store); the trial of best validation accuracy is chosen and
  its test accuracy reported (the test split never chooses);
* **uniform**: every layer keeps the same share of the tokens it receives, ``r(l) = t^(l+1)``;
* **linear**: keep ratio falling linearly with depth;
* **G-Search rescaled**: G-Search's schedule (run once, tolerance ``--tolerance``) scaled
  like a P-Sigmoid curve to the budget.

Writes ``benchmarks/results/psigmoid.json`` and ``psigmoid.png`` (test accuracy against
FLOPs) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search_spaces import make_space
from search_spaces.psigmoid.analysis import gsearch_report
from search_spaces.psigmoid.schedule import Family, linear_family, scaled, uniform_family
from search_spaces.psigmoid.space import SCALE_RANGE, PSigmoidSpace
from search_spaces.tasks.text import TextSplit

RESULTS = Path(__file__).parent / "results"


def options(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    return {
        "budget": budget,
        "max_length": args.max_length,
        "seed": args.seed,
        "val_size": args.val_size,
        "test_size": 0,
    }  # trials are chosen on validation; test is measured for the chosen ones below


def baselines(space: PSigmoidSpace, gsearch_counts: tuple[int, ...]) -> dict[str, tuple[Family, tuple[float, float]]]:
    layers = space.dims.layers
    return {
        "uniform": (uniform_family(layers), (1e-9, 1.0)),
        "linear": (linear_family(layers), (1e-9, 1e9)),
        "G-Search rescaled": (scaled(np.asarray(gsearch_counts) / space.length), SCALE_RANGE),
    }


def point(
    space: PSigmoidSpace, name: str, counts: tuple[int, ...], test: TextSplit, val: float | None = None
) -> dict[str, Any]:
    from search_spaces.psigmoid.schedule import encoder_flops, full_flops

    flops = encoder_flops(counts, space.length, space.dims)
    return {
        "method": name,
        "counts": list(counts),
        "flops": flops,
        "flops_ratio": flops / full_flops(space.length, space.dims),
        "val_accuracy": space.reduced_accuracy(counts, space.val) if val is None else val,
        "test_accuracy": space.reduced_accuracy(counts, test),
    }


def mobo_study(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    from nas import create_study

    spec = {
        "name": f"psigmoid-bench-{budget:g}",
        "space": {"name": "psigmoid", "options": options(args, budget)},
        "optimizer": {"name": "mobo", "seed": args.seed},
        "budget": {"trials": args.trials},
        "executor": {"name": "local"},
    }
    study = create_study(spec, storage=f"sqlite:///{tempfile.mkdtemp()}/psigmoid.db")
    t0 = time.perf_counter()
    study.optimize()
    trials = study.trials("COMPLETE")
    best = max(trials, key=lambda t: (t.values["accuracy"], -t.number))
    return {
        "seconds": time.perf_counter() - t0,
        "space": study.space,
        "best": best,
        "trials": [
            {
                "number": t.number,
                "params": t.params,
                "accuracy": t.values["accuracy"],
                "flops": t.values["flops"],
                "counts": t.metrics["keep_counts"],
            }
            for t in trials
        ],
    }


def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """G-Search once, then every budget; the JSON is rewritten after each step (``"partial"``
    until the end), so a run stopped early keeps what it measured."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base = make_space("psigmoid", options(args, 0.5))
    assert isinstance(base, PSigmoidSpace)
    test = _test(base, args.test_size)
    gs = gsearch_report(base, args.tolerance)
    result: dict[str, Any] = {
        "settings": {**vars(args), "val_size_used": len(base.val), "test_size_used": len(test)},
        "unreduced": point(base, "unreduced", (base.length,) * base.dims.layers, test),
        "gsearch": {
            **point(base, "G-Search", gs.counts, test, gs.accuracy),
            "evaluations": gs.evaluations,
            "tolerance": gs.tolerance,
            "seconds": time.perf_counter() - t0,
        },
        "budgets": [],
        "partial": True,
    }
    _save(result, out)
    print(
        f"G-Search {gs.counts} FLOPs {gs.flops_ratio:.3f} ({gs.evaluations} schedules) {time.perf_counter() - t0:.0f}s",
        flush=True,
    )
    for budget in args.budgets:
        study = mobo_study(args, budget)
        space: PSigmoidSpace = study["space"]
        best = study["best"]
        pts = [
            point(
                space,
                f"P-Sigmoid + mobo ({args.trials} trials)",
                tuple(best.metrics["keep_counts"]),
                test,
                best.values["accuracy"],
            )
        ]
        pts[0]["params"] = best.params
        for name, (family, t_range) in baselines(space, gs.counts).items():
            pts.append(point(space, name, space.fit(family, t_range), test))
        result["budgets"].append(
            {"budget": budget, "points": pts, "mobo_seconds": study["seconds"], "trials": study["trials"]}
        )
        _save(result, out)
        print(
            json.dumps(
                {
                    "budget": budget,
                    "points": [
                        {k: p[k] for k in ("method", "counts", "flops_ratio", "val_accuracy", "test_accuracy")}
                        for p in pts
                    ],
                }
            ),
            flush=True,
        )
    result["partial"] = False
    result["seconds"] = time.perf_counter() - t0
    _save(result, out)
    return result


def _save(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))


def _test(space: PSigmoidSpace, size: int | None) -> TextSplit:
    from search_spaces.psigmoid.model import subset

    return subset(space.task.test, size, space.settings.seed)


def table(result: dict[str, Any]) -> str:
    lines = ["| budget | method | keep counts | FLOPs | val acc | test acc |", "|---|---|---|---|---|---|"]
    for extra in (result["unreduced"], result["gsearch"]):
        lines.append(
            f"| — | {extra['method']} | {extra['counts']} | {extra['flops_ratio']:.1%} | "
            f"{extra['val_accuracy']:.4f} | {extra['test_accuracy']:.4f} |"
        )
    for row in result["budgets"]:
        for p in row["points"]:
            lines.append(
                f"| {row['budget']:.0%} | {p['method']} | {p['counts']} | {p['flops_ratio']:.1%} | "
                f"{p['val_accuracy']:.4f} | {p['test_accuracy']:.4f} |"
            )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    methods = [p["method"] for p in result["budgets"][0]["points"]]
    for m, marker in zip(methods, "os^v", strict=False):
        pts = sorted(
            (p for row in result["budgets"] for p in row["points"] if p["method"] == m), key=lambda p: p["flops_ratio"]
        )
        ax.plot([p["flops_ratio"] for p in pts], [p["test_accuracy"] for p in pts], marker=marker, label=m)
    for extra, marker in ((result["gsearch"], "*"), (result["unreduced"], "D")):
        ax.scatter(
            [extra["flops_ratio"]],
            [extra["test_accuracy"]],
            marker=marker,
            s=80,
            zorder=3,
            label=extra["method"],
            color="k" if marker == "D" else "tab:red",
        )
    ax.set(
        xlabel="encoder FLOPs (share of unreduced)",
        ylabel="test accuracy",
        title="Token reduction in fine-tuned MiniLM-L6, BBC News",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--val-size", type=int, default=200)
    ap.add_argument("--test-size", type=int, default=None, help="test articles (default: all 445)")
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--out", default=str(RESULTS / "psigmoid.json"))
    args = ap.parse_args()
    out = Path(args.out)
    result = run(args, out)
    plot(result, out.with_suffix(".png"))
    print(table(result))
    print(f"{result['seconds']:.0f}s; wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
