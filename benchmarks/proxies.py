"""How well does each zero-shot proxy rank ``wpca`` architectures? Kendall τ / Spearman ρ
against briefly trained models (``benchmarks/wpca_groundtruth.py``), with bootstrap 95%
intervals, and each proxy's median time per architecture.

Phase 1 scores the ground truth's architectures with every registered proxy (random init,
seed 0, the ``wpca`` space's own batches: 2 x 16 BBC News sequences of 64 tokens, one
thread); scores are cached in ``benchmarks/results/wpca_proxy_scores.json`` and resumed.
Phase 2 ranks them against the trained metric (validation masked-token loss, mean of the
two training seeds, lower is better, so the target is its negative) over the architectures
trained with both seeds, and writes ``wpca_proxies.json`` and ``wpca_proxies.png``.

    NAS_CACHE_DIR=/work/cache nice -n 10 python -m benchmarks.proxies [--score-only | --rank-only]

(Run it as a module: as a plain script its own name would shadow the ``proxies`` package.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from proxies.zero_cost import GRADIENT_BASED, proxy_names, score
from search_spaces.tasks.cache import write_atomic
from search_spaces.wpca.space import WpcaSpace

RESULTS = Path(__file__).parent / "results"
GROUND = RESULTS / "wpca_groundtruth.json"
SCORES = RESULTS / "wpca_proxy_scores.json"
OUT = RESULTS / "wpca_proxies.json"
BOOTSTRAP = 2000


def save(path: Path, data: Any) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))


def score_all(ground: dict[str, Any]) -> dict[str, Any]:
    """Every proxy on every architecture of the ground truth (resumes from the cache)."""
    space = WpcaSpace(ground["space_options"])
    data = json.loads(SCORES.read_text()) if SCORES.exists() else {"scores": {}}
    batches = space.batches()
    names = proxy_names()
    warm = space.model(space.arch(ground["configs"][0]))
    for name in names:  # first calls pay one-off import/compile costs (FlopCounterMode: ~10 s)
        score(name, warm, batches)
    for i, config in enumerate(ground["configs"]):
        key = str(i)
        if key in data["scores"] and set(data["scores"][key]) >= set(names):
            continue
        model = space.model(space.arch(config))
        row = {}
        for name in names:
            start = time.perf_counter()
            value = score(name, model, batches)
            row[name] = {"score": value, "seconds": time.perf_counter() - start}
        data["scores"][key] = row
        save(SCORES, data)
        print(f"{i:3d}: " + " ".join(f"{n}={r['score']:.4g}" for n, r in row.items()), flush=True)
    return data


def rank_stats(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """τ and ρ with percentile-bootstrap 95% intervals over architectures."""
    tau, rho = kendalltau(x, y)[0], spearmanr(x, y)[0]
    taus, rhos = [], []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(x), len(x))
        if np.unique(x[i]).size > 1 and np.unique(y[i]).size > 1:
            taus.append(kendalltau(x[i], y[i])[0])
            rhos.append(spearmanr(x[i], y[i])[0])
    return {
        "kendall_tau": float(tau),
        "tau_ci95": [float(v) for v in np.nanpercentile(taus, [2.5, 97.5])],
        "spearman_rho": float(rho),
        "rho_ci95": [float(v) for v in np.nanpercentile(rhos, [2.5, 97.5])],
    }


def target(ground: dict[str, Any]) -> dict[int, float]:
    """−(mean validation loss over the seeds) of every architecture trained with every seed."""
    runs: dict[int, list[float]] = {}
    for r in ground["runs"]:
        runs.setdefault(r["index"], []).append(r["val_loss"])
    return {i: -float(np.mean(v)) for i, v in runs.items() if len(v) == len(ground["seeds"])}


def rank(ground: dict[str, Any], scores: dict[str, Any]) -> dict[str, Any]:
    truth = target(ground)
    idx = sorted(i for i in truth if str(i) in scores["scores"])
    y = np.array([truth[i] for i in idx])
    rng = np.random.default_rng(0)
    table = {}
    for name in proxy_names():
        x = np.array([scores["scores"][str(i)][name]["score"] for i in idx])
        secs = [scores["scores"][str(i)][name]["seconds"] for i in idx]
        table[name] = {
            **rank_stats(x, y, rng),
            "median_seconds": float(np.median(secs)),
            "gradient_based": name in GRADIENT_BASED,
        }
    wpca_tau = table["wpca"]["kendall_tau"]
    for row in table.values():
        row["wpca_tau_minus_this"] = wpca_tau - row["kendall_tau"]
    return {
        "architectures": len(idx),
        "ground_truth": {k: ground[k] for k in ("task", "settings", "seeds", "space_options", "sample_seed")},
        "ground_truth_seed_stability": ground.get("summary", {}),
        "target": "-mean val masked-token loss",
        "bootstrap": BOOTSTRAP,
        "proxies": table,
        "_xy": {"idx": idx, "y": y.tolist()},
    }


def plot(result: dict[str, Any], scores: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    names = list(result["proxies"])
    idx, y = result["_xy"]["idx"], -np.array(result["_xy"]["y"])
    cols = 3
    fig, axes = plt.subplots(-(-len(names) // cols), cols, figsize=(4 * cols, 3.2 * -(-len(names) // cols)))
    for ax, name in zip(axes.flat, names, strict=False):
        x = np.array([scores["scores"][str(i)][name]["score"] for i in idx])
        ax.scatter(x, y, s=12)
        if name in ("params", "flops", "wpca", "synflow") and (x > 0).all():
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{name}: tau={result['proxies'][name]['kendall_tau']:.2f}", fontsize=10)
        ax.set_xlabel("proxy score")
        ax.set_ylabel("val MLM loss")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| proxy | Kendall τ [95% CI] | Spearman ρ [95% CI] | median s/arch | τ(W-PCA) − τ |",
        "|---|---|---|---|---|",
    ]
    for name, r in sorted(result["proxies"].items(), key=lambda kv: -kv[1]["kendall_tau"]):
        rows.append(
            f"| {name}{' (grad)' if r['gradient_based'] else ''} | {r['kendall_tau']:.3f} "
            f"[{r['tau_ci95'][0]:.2f}, {r['tau_ci95'][1]:.2f}] | {r['spearman_rho']:.3f} "
            f"[{r['rho_ci95'][0]:.2f}, {r['rho_ci95'][1]:.2f}] | {r['median_seconds']:.3f} | "
            f"{r['wpca_tau_minus_this']:+.3f} |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--score-only", action="store_true")
    ap.add_argument("--rank-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ground = json.loads(GROUND.read_text())
    scores = json.loads(SCORES.read_text()) if args.rank_only else score_all(ground)
    if args.score_only:
        return
    result = rank(ground, scores)
    plot(result, scores, RESULTS / "wpca_proxies.png")
    result.pop("_xy")
    save(OUT, result)
    print(
        f"{result['architectures']} architectures; ground-truth seed stability: {result['ground_truth_seed_stability']}"
    )
    print(markdown(result))


if __name__ == "__main__":
    main()
