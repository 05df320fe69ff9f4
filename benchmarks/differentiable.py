"""Differentiable search (not a test): RARTS against first-order DARTS at equal search
budget, with random cells from the same space as the floor; and, with ``--space tas``, TAS
against uniform channel scaling and L1 filter pruning at equal FLOPs (:mod:`benchmarks._tas`).

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python -m benchmarks.differentiable   # ~15-25 min, one core
    .venv/bin/python -m benchmarks.differentiable --space tas --help

For each seed both methods search with the same supernet, data halves, batch order, epochs,
batch size, optimizers and architecture learning rate (they differ only in the update, see
:mod:`search_spaces.rarts.update`); a random genotype drawn with the same seed is the floor.
Each of the three cells is then trained from scratch with the same recipe and seed, and scored
on the held-out validation and test splits. Search time per epoch is measured for both
methods in the same process, interleaved seed by seed (RARTS does four forward/backward passes
per step, first-order DARTS two). Writes ``benchmarks/results/differentiable.json`` after
every seed (a cut-short run keeps what it finished) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from search_spaces.rarts.cells import DerivedNetwork
from search_spaces.rarts.data import TaskData, load_task
from search_spaces.rarts.genotype import Genotype, random_genotype
from search_spaces.rarts.ops import PRIMITIVES
from search_spaces.rarts.search import SearchSettings, run_search
from search_spaces.rarts.train import TrainSettings, accuracy, n_params, train

RESULTS = Path(__file__).parent / "results"


def score(g: Genotype, data: TaskData, a: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Train the cell ``g`` from scratch (same seed and recipe for every method) and measure it."""
    torch.manual_seed(seed)
    net = DerivedNetwork(g, a.channels, a.layers, data.dim)
    t0 = time.perf_counter()
    val = train(net, data, TrainSettings(epochs=a.train_epochs, lr=a.train_lr, batch_size=a.batch, seed=seed))
    return {
        "val_accuracy": val,
        "test_accuracy": accuracy(net, data.test),
        "params": n_params(net),
        "train_s": time.perf_counter() - t0,
        "genotype": g.to_json(),
    }


NAMES = {
    "rarts": "RARTS",
    "rarts-reuse": "RARTS, alpha_grad=reuse",
    "darts1": "DARTS 1st order",
    "random": "random cells",
}


def one_seed(seed: int, a: argparse.Namespace) -> dict[str, Any]:
    data = load_task(a.task, seed)
    out: dict[str, Any] = {"seed": seed}
    for method in [m for m in a.methods if m != "random"]:
        s = SearchSettings(
            method=method.removesuffix("-reuse"),
            alpha_grad="reuse" if method.endswith("-reuse") else "fresh",
            primitives=PRIMITIVES,
            nodes=a.nodes,
            layers=a.layers,
            channels=a.channels,
            epochs=a.epochs,
            batch_size=a.batch,
            arch_lr=a.arch_lr,
            beta=a.beta,
            lam=a.lam,
            seed=seed,
        )
        found = run_search(s, data)
        assert found.genotype is not None
        out[method] = {
            **score(found.genotype, data, a, seed),
            "search_epoch_s": found.epoch_s,
            "supernet_val_accuracy": found.history[-1]["supernet_val_accuracy"],
        }
    if "random" in a.methods:
        out["random"] = score(random_genotype(a.nodes, PRIMITIVES, np.random.default_rng(seed)), data, a, seed)
    return out


PARAMETER_FREE = ("none", "skip_connect", "max_pool_3x3", "avg_pool_3x3")


def parameter_free_edges(rows: list[dict[str, Any]], method: str, cell: str) -> list[int]:
    """Kept edges of ``cell`` (``normal`` or ``reduce``) whose operation has no weights:
    how many, and of how many edges, over every seed (the collapse DARTS is known for)."""
    edges = [op for r in rows for op, _ in r[method]["genotype"][cell]]
    return [sum(op in PARAMETER_FREE for op in edges), len(edges)]


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m in [m for m in NAMES if m in rows[0]]:
        acc = [r[m]["test_accuracy"] for r in rows]
        val = [r[m]["val_accuracy"] for r in rows]
        out[m] = {
            "median_test_accuracy": statistics.median(acc),
            "min_test_accuracy": min(acc),
            "max_test_accuracy": max(acc),
            "median_val_accuracy": statistics.median(val),
            "median_params": statistics.median(r[m]["params"] for r in rows),
            "parameter_free_edges": {c: parameter_free_edges(rows, m, c) for c in ("normal", "reduce")},
        }
        if m != "random":
            out[m]["median_search_epoch_s"] = statistics.median(t for r in rows for t in r[m]["search_epoch_s"])
    return out


def table(rows: list[dict[str, Any]], summ: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| cell | test acc. median [min, max] | val acc. median | per seed (test) | params median "
        "| search s/epoch median | weight-free edges, normal; reduce |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, s in summ.items():
        name = NAMES[m]
        per = ", ".join(f"{r[m]['test_accuracy']:.3f}" for r in rows)
        t = f"{s['median_search_epoch_s']:.1f}" if "median_search_epoch_s" in s else "-"
        lines.append(
            f"| {name} | {s['median_test_accuracy']:.3f} [{s['min_test_accuracy']:.3f}, "
            f"{s['max_test_accuracy']:.3f}] | {s['median_val_accuracy']:.3f} | {per} | "
            f"{s['median_params']:.0f} | {t} | {_share(s['parameter_free_edges']['normal'])}; "
            f"{_share(s['parameter_free_edges']['reduce'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``--space rarts`` (the default) runs the RARTS benchmark below; ``--space tas`` hands
    the other arguments to :func:`benchmarks._tas.main`."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--space", choices=["rarts", "tas"], default="rarts")
    known, rest = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    if known.space == "tas":
        from benchmarks._tas import main as tas_main

        return tas_main(rest)
    return rarts_main(rest)


def rarts_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="benchmarks.differentiable", description=__doc__.splitlines()[0])
    p.add_argument("--space", choices=["rarts", "tas"], default="rarts", help="tas: see --space tas --help")
    p.add_argument("--task", default="digits", choices=["digits", "mnist1d"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed+seeds-1")
    p.add_argument(
        "--methods",
        type=lambda v: v.split(","),
        default=["rarts", "darts1", "random"],
        help=f"comma-separated, from {list(NAMES)}",
    )
    p.add_argument("--epochs", type=int, default=3, help="search epochs (both methods)")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--arch-lr", type=float, default=0.05)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument("--train-epochs", type=int, default=6)
    p.add_argument("--train-lr", type=float, default=0.1)
    p.add_argument("--out", default=str(RESULTS / "differentiable.json"))
    p.add_argument(
        "--merge", nargs="+", metavar="JSON", help="only merge finished runs (seed ranges run apart) into --out"
    )
    a = p.parse_args(argv)
    if a.merge:
        return merge([Path(f) for f in a.merge], Path(a.out))
    if not a.methods or set(a.methods) - set(NAMES):
        p.error(f"--methods {','.join(a.methods)}: choose from {','.join(NAMES)}")
    torch.set_num_threads(1)
    settings = {k: v for k, v in vars(a).items() if k not in ("out", "space")}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        rows.append(one_seed(seed, a))
        summ = summary(rows)
        doc = {
            "benchmark": "RARTS vs first-order DARTS, equal search budget; random cells as the floor",
            "settings": settings,
            "primitives": list(PRIMITIVES),
            "seeds_done": len(rows),
            "wall_s": time.perf_counter() - t0,
            "summary": summ,
            "runs": rows,
        }
        Path(a.out).write_text(json.dumps(doc, indent=1))
        print(f"seed {seed} done after {time.perf_counter() - t0:.0f} s", flush=True)
    print(table(rows, summary(rows)))


def _share(count: list[int]) -> str:
    return f"{count[0]} of {count[1]}"


def merge(parts: list[Path], out: Path) -> None:
    """One result from runs of the same settings over different seeds (e.g. on two cores)."""
    docs = [json.loads(f.read_text()) for f in parts]
    same = [{k: v for k, v in d["settings"].items() if k not in ("seeds", "first_seed")} for d in docs]
    if any(x != same[0] for x in same):
        raise SystemExit(f"--merge: the runs' settings differ: {same}")
    rows = sorted((r for d in docs for r in d["runs"]), key=lambda r: r["seed"])
    doc = {**docs[0], "seeds_done": len(rows), "wall_s": sum(d["wall_s"] for d in docs), "runs": rows}
    doc["summary"] = summary(rows)
    doc["settings"] = {
        **docs[0]["settings"],
        "seeds": len(rows),
        "first_seed": rows[0]["seed"],
        "merged_from": sum(d["settings"].get("merged_from", 1) for d in docs),
    }
    out.write_text(json.dumps(doc, indent=1))
    print(table(rows, doc["summary"]))


if __name__ == "__main__":
    main()
