"""The models the ``hawq`` space quantizes: built-in tasks trained once and cached, or a
user model given as ``module:function``.

Built-in tasks (offline data only):

* ``digits``: scikit-learn's 8x8 digits (see :mod:`search_spaces.tasks.vision` for the
  splits), a 5-layer CNN (``conv1``-``conv3``, ``fc1``, ``fc2``; about 23k weights). Trains
  in ~2 s on one core.
* ``mnist1d``: the ``mnist1d`` package's 1-D digits generated offline, a 5-layer 1-D CNN
  with the same layer names.

A trained model is cached by task and seed under ``$NAS_CACHE_DIR/hawq`` (default
``~/.cache/nas/hawq``) and reused; the data under ``$NAS_CACHE_DIR/tasks``. A user function returns
``(model, train, test)``, ``(model, train, test, criterion)`` or a mapping with keys
``model``, ``train``, ``test`` and optionally ``val`` and ``criterion``: ``model`` a trained
``nn.Module``, ``train``/``val``/``test`` iterables of ``(x, y)`` batches (a ``DataLoader``
works), ``criterion`` a loss ``f(logits, y)`` (cross-entropy when absent). Accuracy is
top-1 over ``test``; ``val`` (held out from training, apart from ``test``) is where bit
allocations are checked by measurement.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from proxies.hessian import Batch, Criterion, quantizable_layers
from search_spaces.tasks.cache import cache_dir as tasks_cache_dir
from search_spaces.tasks.cache import write_atomic
from search_spaces.tasks.threads import torch_threads
from search_spaces.tasks.vision import load_arrays

CACHE_VERSION = 2  # 2: validation splits (the models train on less data than in 1)


class TaskError(ValueError):
    """A model function could not be imported or returned something unusable."""


@dataclass
class Task:
    """A trained model with its data: ``train`` for Hessians and calibration, ``val`` held out
    for checking choices (may be empty for a user model), ``test`` held out for reporting."""

    name: str
    model: nn.Module
    train: list[Batch]
    test: list[Batch]
    criterion: Criterion
    float_accuracy: float
    val: list[Batch] = field(default_factory=list)


class DigitsCNN(nn.Module):
    """``B x 1 x 8 x 8`` images → ``B x 10`` logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.conv1(x))
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv3(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class Mnist1dCNN(nn.Module):
    """``B x 1 x 40`` signals → ``B x 10`` logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 24, 5, padding=2)
        self.conv2 = nn.Conv1d(24, 32, 3, padding=1, stride=2)
        self.conv3 = nn.Conv1d(32, 32, 3, padding=1, stride=2)
        self.fc1 = nn.Linear(32 * 10, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def cache_dir() -> Path:
    """``$NAS_CACHE_DIR/hawq`` or ``~/.cache/nas/hawq``: trained models and their traces."""
    return tasks_cache_dir("hawq")


def cache_stem(task: str, seed: int) -> str:
    """The name under which a built-in model and what is derived from it (traces) are cached:
    a new :data:`CACHE_VERSION` (the model changed) never reads an old model's traces."""
    return f"{task}-cnn-v{CACHE_VERSION}-seed{seed}"


def to_batches(x: np.ndarray, y: np.ndarray, size: int) -> list[Batch]:
    """Split arrays into ``(x, y)`` tensor batches of ``size`` in order."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    return [(xt[i:i + size], yt[i:i + size]) for i in range(0, len(xt), size)]


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> nn.Module:
    """Adam with cosine decay on shuffled mini-batches of 64; returns the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = epochs * ((len(x) + 63) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    return model.eval()


def accuracy(model: nn.Module, batches: Iterable[Batch]) -> float:
    """Top-1 accuracy of ``model`` over ``batches``."""
    hits = total = 0
    with torch.no_grad():
        for x, y in batches:
            hits += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return hits / max(total, 1)


def builtin_task(task: str = "digits", seed: int = 0) -> Task:
    """The built-in task's trained model and data, training and caching it on first use."""
    xtr, ytr, xva, yva, xte, yte = load_arrays(task, seed)
    model = {"digits": DigitsCNN, "mnist1d": Mnist1dCNN}[task]()
    path = cache_dir() / f"{cache_stem(task, seed)}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
    else:
        torch.manual_seed(seed)
        with torch_threads(1):
            model = train(model.__class__(), xtr, ytr, seed, epochs={"digits": 25, "mnist1d": 30}[task])
        state = model.state_dict()
        write_atomic(path, lambda tmp: torch.save(state, tmp))
    test = to_batches(xte, yte, 512)
    return Task(task, model, to_batches(xtr, ytr, 256), test, nn.functional.cross_entropy,
                accuracy(model, test), to_batches(xva, yva, 512))


def user_task(spec: str, kwargs: dict[str, Any] | None = None) -> Task:
    """Call ``module:function(**kwargs)`` and check what it returns (see the module doc)."""
    fn = import_function(spec)
    out = _as_mapping(spec, fn(**(kwargs or {})))
    model, tr, te = out["model"], list(out["train"]), list(out["test"])
    criterion = out.get("criterion") or nn.functional.cross_entropy
    if not isinstance(model, nn.Module) or not quantizable_layers(model):
        raise TaskError(f"{spec} returned a model with no Linear or Conv layer to quantize "
                        f"({type(model).__name__})")
    if not tr or not te:
        raise TaskError(f"{spec} returned empty data: train has {len(tr)} batches, test {len(te)}")
    model.eval()
    return Task(spec, model, tr, te, criterion, accuracy(model, te), list(out.get("val") or []))


def _as_mapping(spec: str, out: Any) -> dict[str, Any]:
    """A user function's result as ``{model, train, test[, val][, criterion]}``."""
    if isinstance(out, dict):
        missing = sorted({"model", "train", "test"} - set(out))
        extra = sorted(set(out) - {"model", "train", "test", "val", "criterion"})
        if missing or extra:
            raise TaskError(f"{spec} returned a mapping with missing key(s) {missing} / unknown key(s) "
                            f"{extra}; use model, train, test and optionally val, criterion")
        return out
    if not isinstance(out, tuple | list) or len(out) not in (3, 4):
        raise TaskError(f"{spec} returned {type(out).__name__}; it must return "
                        "(model, train_batches, test_batches), (..., criterion) or a mapping "
                        "with keys model, train, test[, val, criterion]")
    return dict(zip(("model", "train", "test", "criterion"), out, strict=False))


def import_function(spec: str) -> Callable[..., Any]:
    """Resolve ``"package.module:function"``."""
    mod, sep, attr = spec.partition(":")
    if not sep or not mod or not attr:
        raise TaskError(f"model {spec!r} is not of the form 'package.module:function'")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        raise TaskError(f"model {spec!r} cannot be imported: {e}") from None
    if not callable(fn):
        raise TaskError(f"model {spec!r} is not callable")
    return fn
