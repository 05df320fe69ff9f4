"""Ground truth for the W-PCA ranking benchmark: train sampled ``wpca`` architectures briefly.

N architectures are drawn uniformly from the ``wpca`` space (options below) and each is
trained from scratch twice (seeds 0 and 1) on masked-token modelling of the BBC News
articles (MiniLM token ids, max_length 64; see :mod:`search_spaces.wpca.mlm`) with the same
fixed budget. The validation metric is the masked-token cross-entropy (lower is better) and
accuracy on fixed validation masks. Results go to ``benchmarks/results/wpca_groundtruth.json``
after every run; a rerun resumes where it stopped. The seed-to-seed Kendall τ of the
validation loss says how stable the ranking is.

    NAS_CACHE_DIR=/work/cache nice -n 10 python benchmarks/wpca_groundtruth.py [--n 50] [--steps 80]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from search_spaces.tasks.cache import write_atomic
from search_spaces.tasks.text import bbc_minilm
from search_spaces.wpca.arch import arch_of, sample_config
from search_spaces.wpca.mlm import MLMSettings, evaluate_mlm, frequent_tokens, train_mlm
from search_spaces.wpca.options import parse_options

OUT = Path(__file__).parent / "results" / "wpca_groundtruth.json"
SPACE_OPTIONS: dict[str, Any] = {
    "max_layers": 3,
    "hidden": [32, 64, 128],
    "heads": [1, 2, 4],
    "ffn": [32, 64, 128, 256],
    "max_length": 64,
}
SEEDS = (0, 1)
SAMPLE_SEED = 2026


def plan(n: int) -> list[dict[str, Any]]:
    opts = parse_options(SPACE_OPTIONS)
    rng = np.random.default_rng(SAMPLE_SEED)
    return [sample_config(opts, rng) for _ in range(n)]


def load(n: int, settings: MLMSettings) -> dict[str, Any]:
    fresh = {
        "space_options": SPACE_OPTIONS,
        "sample_seed": SAMPLE_SEED,
        "seeds": list(SEEDS),
        "settings": {**asdict(settings), "seed": "per run"},
        "task": "BBC News masked-token modelling",
        "configs": plan(n),
        "runs": [],
    }
    if OUT.exists():
        old = json.loads(OUT.read_text())
        if old["settings"] == fresh["settings"] and old["configs"] == fresh["configs"][: len(old["configs"])]:
            old["configs"] = fresh["configs"] if n > len(old["configs"]) else old["configs"]
            return old
    return fresh


def summary(data: dict[str, Any]) -> dict[str, Any]:
    by = {(r["index"], r["seed"]): r for r in data["runs"]}
    both = [i for i in range(len(data["configs"])) if all((i, s) in by for s in SEEDS)]
    if len(both) < 3:
        return {"architectures_with_both_seeds": len(both)}
    a = [by[(i, SEEDS[0])]["val_loss"] for i in both]
    b = [by[(i, SEEDS[1])]["val_loss"] for i in both]
    return {
        "architectures_with_both_seeds": len(both),
        "seed_kendall_tau_val_loss": float(kendalltau(a, b)[0]),
        "seed_spearman_val_loss": float(spearmanr(a, b)[0]),
        "train_seconds_total": float(sum(r["train_s"] for r in data["runs"])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--steps", type=int, default=80)
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = MLMSettings(steps=args.steps)
    data = load(args.n, settings)
    opts = parse_options(SPACE_OPTIONS)
    task = bbc_minilm(64, 0)
    vocab = frequent_tokens(task.train, settings.vocab)
    done = {(r["index"], r["seed"]) for r in data["runs"]}
    for i, config in enumerate(data["configs"]):
        for seed in SEEDS:
            if (i, seed) in done:
                continue
            start = time.perf_counter()
            run = MLMSettings(**{**asdict(settings), "seed": seed})
            model = train_mlm(arch_of(config, opts), task.train, vocab, run)
            took = time.perf_counter() - start
            acc, loss = evaluate_mlm(model, task.val, vocab)
            data["runs"].append({"index": i, "seed": seed, "val_acc": acc, "val_loss": loss, "train_s": took})
            data["summary"] = summary(data)
            write_atomic(OUT, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
            print(f"{i:3d} seed {seed}: val loss {loss:.4f} acc {acc:.4f} ({took:.1f} s)", flush=True)
    print(json.dumps(data["summary"], indent=1))


if __name__ == "__main__":
    main()
