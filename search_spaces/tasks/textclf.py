"""A topic classifier on a pretrained encoder: the model, its training loop and its accuracy.

Shared by the spaces that fine-tune MiniLM-L6 on BBC News (``autopeft`` trains inserted
modules and the head, ``psigmoid`` fine-tunes once and then reduces tokens). The head reads
the final hidden state of the ``[CLS]`` token (position 0, which token reduction always
keeps) through dropout and one linear layer. Training is AdamW with linear warm-up and
decay over mini-batches, seeded; only parameters with ``requires_grad`` are updated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from search_spaces.tasks.text import TextSplit


class EncoderClassifier(nn.Module):
    """``encoder`` (a ``BertModel``-like module) + a linear head on the ``[CLS]`` state.

    ``forward(ids, mask) -> logits`` of shape ``B x classes``.
    """

    def __init__(self, encoder: nn.Module, classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)  # type: ignore[union-attr]
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        out = self.encoder(input_ids=ids, attention_mask=mask)
        return self.head(self.dropout(out.last_hidden_state[:, 0]))


@dataclass(frozen=True)
class TrainSettings:
    epochs: float = 1.0  # fractions allowed: 0.5 trains on half an epoch of batches
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.0
    warmup: float = 0.1  # share of the steps with a linearly rising learning rate
    seed: int = 0


def batches(split: TextSplit, size: int, order: np.ndarray | None = None) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """``(ids, mask, labels)`` tensors of ``size`` rows in ``order`` (default: as stored),
    each trimmed to its longest sequence so padding costs nothing."""
    idx = np.arange(len(split)) if order is None else order
    for i in range(0, len(idx), size):
        sel = idx[i : i + size]
        mask = torch.from_numpy(split.mask[sel])
        width = max(int(mask.sum(1).max()), 1)
        yield torch.from_numpy(split.ids[sel][:, :width]), mask[:, :width], torch.from_numpy(split.labels[sel])


def train_classifier(
    model: nn.Module,
    split: TextSplit,
    settings: TrainSettings,
    on_epoch: Callable[[int], bool] | None = None,
) -> int:
    """Train ``model``'s trainable parameters on ``split``; returns the optimizer steps taken.

    ``on_epoch(epoch)`` runs after each whole epoch (1, 2, ...); returning False stops early.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter")
    gen = np.random.default_rng(settings.seed)
    per_epoch = -(-len(split) // settings.batch_size)
    total = max(1, round(settings.epochs * per_epoch))
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    warm = max(1, round(settings.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    torch.manual_seed(settings.seed)
    model.train()
    step = 0
    try:
        while step < total:
            for ids, mask, y in batches(split, settings.batch_size, gen.permutation(len(split))):
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(model(ids, mask), y).backward()
                opt.step()
                sched.step()
                step += 1
                if step >= total:
                    break
            if step % per_epoch == 0 and on_epoch is not None and not on_epoch(step // per_epoch):
                break
    finally:
        model.eval()
    return step


@torch.no_grad()
def accuracy(model: nn.Module, split: TextSplit, batch_size: int = 64) -> float:
    """Top-1 accuracy of ``model(ids, mask)`` over ``split``."""
    was = model.training
    model.eval()
    hits = 0
    for ids, mask, y in batches(split, batch_size):
        hits += int((model(ids, mask).argmax(1) == y).sum())
    model.train(was)
    return hits / max(len(split), 1)


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
