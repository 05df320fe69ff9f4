"""The shared built-in tasks: splits, offline loading and the on-disk caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search_spaces.tasks import text, vision


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_bbc_split_is_stratified_disjoint_and_covers_every_article() -> None:
    _, labels, classes = text.bbc_documents()
    assert len(labels) == 2225 and len(classes) == 5
    tr, va, te = text.split_indices(labels, seed=0)
    assert len(set(tr) | set(va) | set(te)) == 2225 == len(tr) + len(va) + len(te)
    for part in (tr, va, te):
        share = np.bincount(labels[part], minlength=5) / len(part)
        assert np.allclose(share, np.bincount(labels) / 2225, atol=0.01)
    assert not np.array_equal(text.split_indices(labels, seed=1)[2], te)


def test_tokenised_bbc_is_cached_and_the_second_load_does_not_tokenise(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = text.bbc_minilm(max_length=32, seed=0)
    assert first.train.ids.shape == (1335, 32) and len(first.val) == 445 and len(first.test) == 445
    assert (first.train.ids[:, 0] == 101).all()  # [CLS] leads every sequence
    assert list(cache.glob("tasks/bbc-minilm-*len32-seed0.npz"))

    def boom(*_: object) -> None:
        raise AssertionError("tokenised again despite the cache")

    monkeypatch.setattr(text, "_tokenise_bbc", boom)
    again = text.bbc_minilm(max_length=32, seed=0)
    assert np.array_equal(again.test.ids, first.test.ids) and again.classes == first.classes


@pytest.mark.parametrize("bad", [4, 513, 1.5, True])
def test_a_max_length_the_encoder_cannot_take_is_refused(bad: object) -> None:
    with pytest.raises(text.TextTaskError, match=r"max_length"):
        text.bbc_minilm(max_length=bad)  # type: ignore[arg-type]


def test_digits_arrays_are_cached_per_seed(cache: Path) -> None:
    a = vision.load_arrays("digits", 0)
    assert [len(x) for x in a[::2]] == [1149, 288, 360]
    assert (cache / "tasks" / "digits-data-v2-seed0.npz").exists()
    assert np.array_equal(vision.load_arrays("digits", 0)[0], a[0])
    with pytest.raises(vision.UnknownTaskError, match="cifar"):
        vision.load_arrays("cifar", 0)
