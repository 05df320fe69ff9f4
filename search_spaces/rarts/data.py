"""The built-in task as tensors: the search halves, the full training set, validation, test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from search_spaces.tasks.vision import load_arrays

Split = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class TaskData:
    """``search_a`` / ``search_b``: the two halves of the training split that the search fits
    (``w`` on a, architecture on b; RARTS's ``y`` on b). ``train`` = both halves, used to train
    the derived network; ``val`` scores it (the objective); ``test`` is only reported."""

    search_a: Split
    search_b: Split
    train: Split
    val: Split
    test: Split
    dim: int


def load_task(task: str, seed: int) -> TaskData:
    xtr, ytr, xva, yva, xte, yte = (torch.from_numpy(a) for a in load_arrays(task, seed))
    order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(seed))
    half = len(order) // 2
    a, b = order[:half], order[half:]
    return TaskData((xtr[a], ytr[a]), (xtr[b], ytr[b]), (xtr, ytr), (xva, yva), (xte, yte), xtr.dim() - 2)


def batches(split: Split, size: int, gen: torch.Generator) -> Iterator[Split]:
    """One shuffled pass over ``split`` in batches of ``size`` (the last one may be smaller)."""
    x, y = split
    order = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), size):
        idx = order[i : i + size]
        yield x[idx], y[idx]
