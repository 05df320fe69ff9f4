"""One short fine-tuning run of a classifier on the BBC News task, and what it scores.

Shared by the ``autopeft`` space and its benchmark's fixed baselines (full fine-tuning,
LoRA, head-only), so every configuration trains on the same split with the same budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from search_spaces.tasks.text import TextTask
from search_spaces.tasks.textclf import TrainSettings, accuracy, train_classifier, trainable_parameters

# (epoch, validation accuracy) -> keep going?
EpochReport = Callable[[int, float], bool]


@dataclass(frozen=True)
class Score:
    val_accuracy: float
    test_accuracy: float
    trainable: int  # elements of every parameter with requires_grad (modules and head)
    steps: int
    train_s: float
    score_s: float  # the validation and test passes after training


def fit_and_score(
    model: nn.Module, task: TextTask, settings: TrainSettings, report: EpochReport | None = None
) -> Score:
    """Train ``model``'s trainable parameters on ``task.train``, then score validation and test.

    ``report(epoch, val_accuracy)`` runs after each whole epoch (it measures validation
    accuracy there); returning False ends training early. A budget that ends inside an epoch
    is reported once more at the end, as the next whole epoch, so every run reports at least
    once. The final validation accuracy is reused when training ended on an epoch boundary.
    """
    trainable = trainable_parameters(model)
    last: dict[int, float] = {}

    def on_epoch(epoch: int) -> bool:
        last.clear()
        last[epoch] = accuracy(model, task.val)
        return True if report is None else report(epoch, last[epoch])

    start = time.perf_counter()
    steps = train_classifier(model, task.train, settings, on_epoch if report is not None else None)
    mid = time.perf_counter()
    per_epoch = -(-len(task.train) // settings.batch_size)
    if steps % per_epoch == 0 and last:
        val = last[steps // per_epoch]
    else:
        val = accuracy(model, task.val)
        if report is not None:  # a partial last epoch counts as the next whole one
            report(-(-steps // per_epoch), val)
    test = accuracy(model, task.test)
    return Score(val, test, trainable, steps, mid - start, time.perf_counter() - mid)
