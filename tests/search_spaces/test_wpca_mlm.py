"""The ground truth's masked-token task: what is masked, what is predicted, fixed validation masks."""

from __future__ import annotations

import numpy as np

from search_spaces.tasks.text import TextSplit
from search_spaces.wpca.mlm import MASK_ID, SPECIAL, MLMSettings, evaluate_mlm, frequent_tokens, masked, train_mlm
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
