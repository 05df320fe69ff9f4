"""The fine-tuned MiniLM-L6 topic classifier that token reduction is applied to, cached on disk.

The pretrained encoder and a linear head on ``[CLS]`` (:class:`EncoderClassifier`) are
fine-tuned together on the BBC News training split once per (max_length, seed, epochs, lr),
then stored under ``$NAS_CACHE_DIR/psigmoid`` (written atomically, so concurrent workers
never read half a file) and loaded by every later trial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from search_spaces.tasks.cache import cache_dir, write_atomic
from search_spaces.tasks.text import TextSplit, TextTask, load_minilm
from search_spaces.tasks.textclf import EncoderClassifier, TrainSettings, train_classifier
from search_spaces.tasks.threads import torch_threads

CACHE_VERSION = 1


def model_path(task: TextTask, epochs: float, lr: float) -> Path:
    return cache_dir("psigmoid") / (
        f"minilm-bbc-v{CACHE_VERSION}-len{task.max_length}-seed{task.seed}-ep{epochs:g}-lr{lr:g}.pt"
    )


def finetuned_classifier(task: TextTask, epochs: float, lr: float) -> EncoderClassifier:
    """The fine-tuned classifier for ``task`` (trained on first use, then loaded), in eval mode."""
    model = EncoderClassifier(load_minilm(), classes=len(task.classes))
    path = model_path(task, epochs, lr)
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    with torch_threads(1):
        train_classifier(model, task.train, TrainSettings(epochs=epochs, lr=lr, batch_size=32, seed=task.seed))
    state = model.state_dict()
    write_atomic(path, lambda tmp: torch.save(state, tmp))
    return model.eval()


def subset(split: TextSplit, size: int | None, seed: int) -> TextSplit:
    """``size`` rows of ``split`` drawn without replacement by ``seed`` (all rows when None)."""
    if size is None or size >= len(split):
        return split
    idx = np.sort(np.random.default_rng(seed).permutation(len(split))[:size])
    return TextSplit(split.ids[idx], split.mask[idx], split.labels[idx])
