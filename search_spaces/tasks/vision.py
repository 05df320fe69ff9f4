"""Small image and signal classification data: scikit-learn's digits and ``mnist1d``.

* ``digits``: 1,797 8x8 images, 10 classes, split 64/16/20 into train / validation / test
  (stratified, by seed); inputs ``N x 1 x 8 x 8`` in [0, 1].
* ``mnist1d``: the ``mnist1d`` package's generator run offline (never its downloader):
  8,000 signals of length 40 as 4,000 train / 2,000 validation / 2,000 test; ``N x 1 x 40``.

Arrays are generated once per task and seed and cached as ``.npz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_spaces.tasks.cache import cache_dir, write_atomic

TASKS = ("digits", "mnist1d")
DATA_VERSION = 2  # 2: validation splits
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class UnknownTaskError(ValueError):
    """A task name that is not built in."""


def load_arrays(task: str, seed: int = 0) -> Arrays:
    """``(x_train, y_train, x_val, y_val, x_test, y_test)``: float32 ``N x 1 x ...`` inputs and
    int64 labels, generated once per task and seed and cached (mnist1d takes seconds)."""
    if task not in TASKS:
        raise UnknownTaskError(f"unknown task {task!r}: choose one of {list(TASKS)}")
    path = cache_dir("tasks") / f"{task}-data-v{DATA_VERSION}-seed{seed}.npz"
    if path.exists():
        with np.load(path) as z:
            return tuple(z[f"a{i}"] for i in range(6))  # type: ignore[return-value]
    arrays = _digits(seed) if task == "digits" else _mnist1d(seed)
    write_atomic(path, lambda tmp: save_npz(tmp, {f"a{i}": a for i, a in enumerate(arrays)}))
    return arrays


def num_classes(task: str) -> int:
    return 10


def input_shape(task: str) -> tuple[int, ...]:
    """One example's shape (channels first)."""
    return {"digits": (1, 8, 8), "mnist1d": (1, 40)}[task]


def _digits(seed: int) -> Arrays:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    xtr, xva, ytr, yva = train_test_split(xtr, ytr, test_size=0.2, random_state=seed, stratify=ytr)
    return xtr, ytr, xva, yva, xte, yte


def _mnist1d(seed: int) -> Arrays:
    from mnist1d.data import get_dataset_args, make_dataset  # offline generator, no download

    args = get_dataset_args()
    args.seed, args.num_samples, args.train_split = seed, 8000, 0.5
    d = make_dataset(args)
    x, y = d["x"].astype(np.float32)[:, None], d["y"].astype(np.int64)
    rest_x, rest_y = d["x_test"].astype(np.float32)[:, None], d["y_test"].astype(np.int64)
    half = len(rest_x) // 2
    return x, y, rest_x[:half], rest_y[:half], rest_x[half:], rest_y[half:]


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as f:  # a file object: np.savez would add ".npz" to a plain name
        np.savez(f, **arrays)
