"""Train a derived network from scratch and measure it (the same recipe for every genotype)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.rarts.data import Split, TaskData, batches

EpochHook = Callable[[int, float], bool]  # (epoch, validation accuracy) -> keep going


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 20
    lr: float = 0.05
    batch_size: int = 64
    weight_decay: float = 3e-4
    seed: int = 0


def accuracy(model: nn.Module, split: Split, batch: int = 512) -> float:
    x, y = split
    was = model.training
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    model.train(was)
    return hits / max(len(x), 1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train(model: nn.Module, data: TaskData, s: TrainSettings, on_epoch: EpochHook | None = None) -> float:
    """SGD with momentum and a cosine schedule on ``data.train``; returns the last validation
    accuracy. ``on_epoch`` sees each epoch's validation accuracy and may stop training."""
    gen = torch.Generator().manual_seed(s.seed)
    opt = torch.optim.SGD(model.parameters(), lr=s.lr, momentum=0.9, nesterov=True, weight_decay=s.weight_decay)
    steps = s.epochs * -(-len(data.train[0]) // s.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    acc = 0.0
    model.train()
    for epoch in range(1, s.epochs + 1):
        for x, y in batches(data.train, s.batch_size, gen):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        acc = accuracy(model, data.val)
        if on_epoch is not None and not on_epoch(epoch, acc):
            break
    return acc
