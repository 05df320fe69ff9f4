"""The ground truth's masked-token task: what is masked, what is predicted, fixed validation masks."""

from __future__ import annotations

import copy

import numpy as np
import torch

from search_spaces.tasks.text import TextSplit
from search_spaces.wpca.mlm import (
    MASK_ID,
    SPECIAL,
    MaskedLM,
    MLMSettings,
    evaluate_mlm,
    frequent_tokens,
    masked,
    train_mlm,
)
from search_spaces.wpca.model import Arch


def split() -> TextSplit:
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 1040, size=(12, 10))
    ids[:, 0], ids[:, -1] = 101, 102
    mask = np.ones_like(ids)
    mask[:, 7:] = 0
    ids[:, 7:] = 0
    return TextSplit(ids, mask, np.zeros(12, dtype=np.int64))


def test_frequent_tokens_skip_special_and_padding_ids():
    vocab = frequent_tokens(split(), 8)
    assert len(vocab) == 8 and not set(vocab) & set(SPECIAL) and all(1000 <= v < 1040 for v in vocab)


def test_only_real_frequent_tokens_are_masked_and_targets_name_them():
    s = split()
    vocab = frequent_tokens(s, 8)
    inp, where, y = masked(s.ids, s.mask, vocab, 0.9, np.random.default_rng(1))
    w = where.numpy()
    assert w.any() and not w[:, 7:].any() and np.isin(s.ids[w], vocab).all()
    assert (inp.numpy()[w] == MASK_ID).all() and (inp.numpy()[~w] == s.ids[~w]).all()
    assert (vocab[y.numpy()] == s.ids[w]).all()


def test_validation_masks_are_fixed_so_a_model_scores_the_same_twice():
    s = split()
    vocab = frequent_tokens(s, 8)
    model = train_mlm(Arch(1, 16, 2, (16,)), s, vocab, MLMSettings(steps=2, batch_size=4))
    assert evaluate_mlm(model, s, vocab) == evaluate_mlm(model, s, vocab)


def test_compact_table_computes_what_the_full_table_does_on_seen_ids():
    s = split()
    vocab = frequent_tokens(s, 8)
    torch.manual_seed(0)
    full = MaskedLM(Arch(1, 16, 2, (16,)), len(vocab), s.ids.shape[1]).eval()
    small = copy.deepcopy(full)
    seen = np.union1d(np.unique(s.ids), MASK_ID)
    small.compact(seen)
    with torch.no_grad():
        small.encoder.tokens.weight[: len(seen)] = full.encoder.tokens.weight[torch.from_numpy(seen)]
    inp, where, _ = masked(s.ids, s.mask, vocab, 0.5, np.random.default_rng(2))
    keep = torch.from_numpy(s.mask)
    assert small.encoder.tokens.num_embeddings == len(seen) + 1
    torch.testing.assert_close(small(inp, keep, where), full(inp, keep, where))
    unseen = inp.clone()
    unseen[0, 1] = 2000  # an id that never occurs reads the shared last row, not a row of its own
    assert int(small.rows[unseen][0, 1]) == len(seen) == int(small.rows[2001])


def test_training_seeds_differ_and_a_seed_repeats():
    s = split()
    vocab = frequent_tokens(s, 8)
    arch = Arch(1, 16, 2, (16,))
    settings = [MLMSettings(steps=3, batch_size=4, compact=True, seed=k) for k in (0, 0, 1)]
    runs = [evaluate_mlm(train_mlm(arch, s, vocab, st), s, vocab) for st in settings]
    assert runs[0] == runs[1] and runs[0][1] != runs[2][1]
