"""The shared encoder classifier: step counts, frozen parameters, early stop and accuracy."""

from __future__ import annotations

import numpy as np
import torch
from transformers import BertConfig, BertModel

from search_spaces.tasks.text import TextSplit
from search_spaces.tasks.textclf import (
    EncoderClassifier,
    TrainSettings,
    accuracy,
    batches,
    train_classifier,
    trainable_parameters,
)


def _split(n: int = 40, width: int = 12, seed: int = 0) -> TextSplit:
    """Token sequences whose class is written in their second token (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    ids = rng.integers(1000, 1100, (n, width))
    ids[:, 0] = 101
    ids[:, 1] = 2000 + labels
    lengths = rng.integers(4, width + 1, n)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return TextSplit(ids=(ids * mask).astype(np.int64), mask=mask, labels=labels.astype(np.int64))


def _model(frozen: bool) -> EncoderClassifier:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=2100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    model = EncoderClassifier(BertModel(cfg), classes=2)
    if frozen:
        model.encoder.requires_grad_(False)
    return model


def test_batches_trim_padding_to_the_longest_row() -> None:
    split = _split()
    for ids, mask, _ in batches(split, 8):
        assert ids.shape == mask.shape and int(mask.sum(1).max()) == ids.shape[1]


def test_fractional_epochs_count_steps_and_only_trainable_parameters_move() -> None:
    model = _model(frozen=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = train_classifier(model, _split(), TrainSettings(epochs=1.5, batch_size=8, lr=1e-2))
    assert steps == 8  # 5 batches per epoch x 1.5, rounded
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert trainable_parameters(model) == 16 * 2 + 2


def test_training_learns_the_task_and_on_epoch_can_stop_it() -> None:
    split = _split(n=64)
    model = _model(frozen=False)
    seen: list[int] = []
    train_classifier(model, split, TrainSettings(epochs=12, batch_size=16, lr=3e-2), lambda e: seen.append(e) or e < 10)
    assert seen == list(range(1, 11))
    assert accuracy(model, split) > 0.9
