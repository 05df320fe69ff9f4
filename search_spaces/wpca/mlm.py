"""Masked-token modelling on BBC News text: the ground truth the W-PCA ranking is checked on.

An encoder (:class:`~search_spaces.wpca.model.Encoder`) is trained from scratch to recover
masked tokens of the BBC News articles (MiniLM WordPiece ids). To keep one training run to
seconds on one CPU core, only tokens among the ``vocab`` most frequent ones of the training
split are masked and predicted (a ``vocab``-way softmax instead of 30,522): a rate ``rate``
of those positions is replaced by ``[MASK]``. Validation masks are drawn once from a fixed
seed, so every architecture and training seed is scored on the same masked tokens. The
metric is masked-token top-1 accuracy (and the mean cross-entropy).

Only the token ids that occur in the training split get their own trainable embedding row
(with ``MLMSettings.compact``; the others share one row, the only one they could ever reach):
an id that never occurs gets no gradient, so its row of the full 30,522-row table is never
updated, and AdamW over the full table was a third of each step's time. The function the
model computes on seen ids is the same as with the full table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from search_spaces.tasks.text import TextSplit
from search_spaces.wpca.model import VOCAB, Arch, Encoder

MASK_ID, SPECIAL = 103, (0, 100, 101, 102, 103)  # [MASK]; [PAD] [UNK] [CLS] [SEP] [MASK]
VAL_MASK_SEED = 12345


@dataclass(frozen=True)
class MLMSettings:
    steps: int = 80
    batch_size: int = 16
    lr: float = 2e-3
    vocab: int = 2048
    rate: float = 0.15
    seed: int = 0
    warmup: int = 10  # linear warmup steps, then linear decay to 0 at ``steps``
    compact: bool = False  # one embedding row per id seen in training, one shared by the rest
    position_std: float = 1.0  # init std of the position embeddings (1.0: PyTorch's default)


class MaskedLM(nn.Module):
    """Encoder + a linear head over the ``n_out`` predicted tokens, read at masked positions."""

    def __init__(self, arch: Arch, n_out: int, max_length: int) -> None:
        super().__init__()
        self.encoder = Encoder(arch, max_length)
        self.head = nn.Linear(arch.hidden, n_out)

        self.rows: Tensor | None
        self.register_buffer("rows", None)  # id -> embedding row, once :meth:`compact` is called

    def compact(self, seen: np.ndarray) -> None:
        """Give only the ids in ``seen`` their own embedding row; every other id shares one."""
        rows = torch.full((VOCAB,), len(seen), dtype=torch.long)
        rows[torch.from_numpy(seen)] = torch.arange(len(seen))
        self.rows = rows
        self.encoder.tokens = nn.Embedding(len(seen) + 1, self.encoder.tokens.embedding_dim)

    def forward(self, ids: Tensor, mask: Tensor, where: Tensor) -> Tensor:
        ids = ids if self.rows is None else self.rows[ids]
        return self.head(self.encoder(ids, mask)[where])


def frequent_tokens(split: TextSplit, k: int) -> np.ndarray:
    """The ``k`` most frequent non-special token ids of ``split`` (ties by id)."""
    ids = split.ids[split.mask.astype(bool)]
    ids = ids[~np.isin(ids, SPECIAL)]
    values, counts = np.unique(ids, return_counts=True)
    return np.sort(values[np.lexsort((values, -counts))[:k]])


def masked(
    ids: np.ndarray, keep: np.ndarray, vocab: np.ndarray, rate: float, gen: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """``(input ids with [MASK], masked positions B x T, target class per masked position)``."""
    lookup = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    lookup[vocab[vocab <= ids.max()]] = np.arange(int((vocab <= ids.max()).sum()))
    cls = lookup[ids]
    where = (cls >= 0) & keep.astype(bool) & (gen.random(ids.shape) < rate)
    inp = np.where(where, MASK_ID, ids)
    return torch.from_numpy(inp), torch.from_numpy(where), torch.from_numpy(cls[where])


def train_mlm(arch: Arch, split: TextSplit, vocab: np.ndarray, s: MLMSettings) -> MaskedLM:
    """Train a fresh :class:`MaskedLM` (seeded init, batches and masks) for ``s.steps`` steps."""
    torch.manual_seed(s.seed)
    model = MaskedLM(arch, len(vocab), split.ids.shape[1])
    if s.compact:
        model.compact(np.union1d(np.unique(split.ids), MASK_ID))
    nn.init.normal_(model.encoder.tokens.weight, std=0.02)
    nn.init.normal_(model.encoder.positions.weight, std=s.position_std)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1.0, (t + 1) / max(s.warmup, 1)) * (1 - t / s.steps))
    gen = np.random.default_rng(s.seed)
    model.train()
    for _ in range(s.steps):
        sel = gen.choice(len(split), s.batch_size, replace=False)
        inp, where, y = masked(split.ids[sel], split.mask[sel], vocab, s.rate, gen)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(inp, torch.from_numpy(split.mask[sel]), where), y).backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def evaluate_mlm(
    model: MaskedLM, split: TextSplit, vocab: np.ndarray, rate: float = 0.15, batch_size: int = 64, draws: int = 1
) -> tuple[float, float]:
    """``(masked-token accuracy, mean cross-entropy)`` on ``split`` over ``draws`` passes, each
    with its own masks from a fixed seed (more draws: more scored tokens, less noise)."""
    hits = n = 0
    loss = 0.0
    for d in range(draws):
        gen = np.random.default_rng(VAL_MASK_SEED + d)
        for i in range(0, len(split), batch_size):
            ids, keep = split.ids[i : i + batch_size], split.mask[i : i + batch_size]
            inp, where, y = masked(ids, keep, vocab, rate, gen)
            logits = model(inp, torch.from_numpy(keep), where)
            hits += int((logits.argmax(1) == y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            n += len(y)
    return hits / max(n, 1), loss / max(n, 1)
