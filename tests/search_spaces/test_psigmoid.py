"""Token reduction, the FLOPs model, budget fitting and G-Search of the psigmoid space.

The reduction runs on tiny random ``BertModel``s (the equality and FLOPs checks need no
pretrained weights); the budget checks use MiniLM-L6's real dimensions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel

from search_spaces import SpaceError, make_space
from search_spaces.psigmoid import g_search
from search_spaces.psigmoid.reduce import ReducedEncoder, attention_received, select_tokens
from search_spaces.psigmoid.schedule import (
    EncoderDims,
    check_schedule,
    encoder_flops,
    fit_budget,
    full_flops,
    linear_family,
    psigmoid_shape,
    scaled,
    uniform_family,
)
from search_spaces.psigmoid.space import MINILM


def _bert(layers: int = 1, seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=120,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=32,
    )
    return BertModel(cfg).eval()


def _batch(rows: int = 5, width: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 120, (rows, width), generator=g)
    lengths = torch.tensor([width, width - 3, 4, width, 7][:rows])
    mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    return ids * mask, mask


def test_keep_ratio_one_everywhere_reproduces_the_unreduced_encoder() -> None:
    for layers in (1, 2):
        bert = _bert(layers)
        ids, mask = _batch()
        with torch.no_grad():
            ref = bert(input_ids=ids, attention_mask=mask).last_hidden_state
            h, m, pos = ReducedEncoder(bert, length=12)(ids, mask, [12] * layers)
        assert torch.equal(m, mask) and torch.equal(pos, torch.arange(12).expand(5, 12))
        assert torch.allclose(h, ref, atol=1e-5)
        assert (h - ref).abs().max() < 1e-5


def test_a_reduced_run_differs_and_keeps_the_counts_it_was_given() -> None:
    bert = _bert(3)
    ids, mask = _batch()
    with torch.no_grad():
        ref = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        enc = ReducedEncoder(bert, length=12)
        h, m, _ = enc(ids, mask, [9, 6, 3])
    assert h.shape[1] == 3 and not torch.allclose(h[:, 0], ref[:, 0], atol=1e-4)
    assert m.sum(1).tolist() == [3, 3, 1, 3, 2]  # ceil(3/12 * length): 12, 9, 4, 12, 7 real tokens
    assert [int((k >= 0).sum(1)[0]) for k in enc.kept] == [9, 6, 3]


def test_dropped_tokens_never_reappear_and_padding_is_never_kept() -> None:
    bert = _bert(4, seed=1)
    ids, mask = _batch(seed=3)
    for leading in (0, 2):
        enc = ReducedEncoder(bert, length=12, keep_leading=leading)
        with torch.no_grad():
            enc(ids, mask, [10, 7, 7, 4])
        for b in range(len(ids)):
            sets = [set(k[b][k[b] >= 0].tolist()) for k in enc.kept]
            real = set(range(int(mask[b].sum())))
            assert sets[0] <= real
            assert all(later <= earlier for earlier, later in itertools.pairwise(sets))
            assert all(set(range(min(1 + leading, len(real)))) <= s for s in sets)  # [CLS] + leading kept


def test_ranking_uses_attention_received_over_heads_and_real_queries() -> None:
    # 1 row, 2 heads, 5 positions; position 4 is padding. Queries attend to keys 1-3 only.
    p = torch.zeros(1, 2, 5, 5)
    p[0, 0, :, 2] = 0.7  # head 0: every query looks at token 2 ...
    p[0, 0, :, 3] = 0.3
    p[0, 1, :, 1] = 0.6  # head 1: ... at token 1
    p[0, 1, :, 3] = 0.4
    p[0, :, 4, :] = 0.0
    p[0, :, 4, 0] = 100.0  # the padding query's row must not count
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    scores = attention_received(p, mask)
    assert torch.allclose(scores[0, :4], torch.tensor([0.0, 0.3, 0.35, 0.35]))
    assert scores[0, 4] == float("-inf")
    idx, kept = select_tokens(scores, mask, torch.tensor([3]), protected=1)
    assert idx.tolist() == [[0, 2, 3]] and kept.tolist() == [[1, 1, 1]]  # [CLS] kept despite score 0
    idx, kept = select_tokens(scores, mask, torch.tensor([2]), protected=2)
    assert sorted(idx[0].tolist()) == [0, 1]


def test_flops_model_matches_torch_flop_counter_with_the_actual_token_counts() -> None:
    bert = _bert(3)
    dims = EncoderDims.of(bert.config)
    ids, mask = _batch(rows=1)
    for counts in ([12, 12, 12], [9, 6, 3], [5, 5, 1]):
        enc = ReducedEncoder(bert, length=12)
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            enc(ids, mask, counts)
        assert fc.get_total_flops() == encoder_flops(counts, 12, dims)


@pytest.mark.parametrize("budget", [0.3, 0.5, 0.7])
def test_fitted_psigmoid_schedules_meet_the_budget_within_half_a_percent(budget: float) -> None:
    rng = np.random.default_rng(int(budget * 10))
    full = full_flops(64, MINILM)
    for _ in range(50):
        shape = psigmoid_shape(float(np.exp(rng.uniform(np.log(0.5), np.log(50)))), rng.uniform(), rng.uniform(), 6)
        counts = fit_budget(scaled(shape), (1e-12, 1e30), budget, 64, MINILM, 1)
        assert check_schedule(counts, 64, 1, 6) == counts
        assert abs(encoder_flops(counts, 64, MINILM) / full / budget - 1) <= 0.005
    for family, t in ((uniform_family(6), (1e-9, 1.0)), (linear_family(6), (1e-9, 1e9))):
        counts = fit_budget(family, t, budget, 64, MINILM, 1)
        assert abs(encoder_flops(counts, 64, MINILM) / full / budget - 1) <= 0.005


def test_psigmoid_shape_is_non_increasing_and_steep_curves_step_at_the_midpoint() -> None:
    g = psigmoid_shape(50.0, 0.5, 0.2, 6)
    assert np.all(np.diff(g) <= 0)
    assert np.allclose(g[:3], 1.0, atol=1e-2) and np.allclose(g[3:], 0.2, atol=1e-2)


def _oracle(hidden: tuple[int, ...]):
    calls: list[tuple[int, ...]] = []

    def metric(counts: tuple[int, ...]) -> float:
        calls.append(counts)
        return float(all(c >= h for c, h in zip(counts, hidden, strict=True)))

    return metric, calls


@pytest.mark.parametrize("hidden", [(6, 4, 4, 1), (3, 3, 2, 2), (8, 8, 8, 8), (1, 1, 1, 1), (7, 2, 1, 1)])
def test_g_search_finds_the_hidden_schedule_which_brute_force_also_finds(hidden: tuple[int, ...]) -> None:
    length, dims = 8, EncoderDims(layers=4, hidden=8, ffn=16)
    metric, calls = _oracle(hidden)
    result = g_search(metric, layers=4, length=length, target=1.0)
    assert result.counts == hidden
    assert result.evaluations == len(set(calls)) < 4 * 4 + 1  # bisection: about log2(8) per layer
    every = [
        c for c in itertools.product(range(1, length + 1), repeat=4) if all(a >= b for a, b in itertools.pairwise(c))
    ]
    passing = [c for c in every if metric(c) == 1.0]
    assert min(passing, key=lambda c: encoder_flops(c, length, dims)) == hidden


def test_bad_options_and_schedules_name_the_value_and_write_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    for options, needle in (
        ({"budget": 0.0}, "budget=0.0"),
        ({"budget": 1.5}, "budget=1.5"),
        ({"budget": 0.05}, "budget=0.05"),
        ({"max_length": 600}, "max_length=600"),
        ({"keep_leading": 64}, "keep_leading=64"),
        ({"bugdet": 0.5}, "'bugdet'"),
        ({"val_size": 0}, "val_size=0"),
    ):
        with pytest.raises(SpaceError, match=needle.replace(".", r"\.").replace("'", "'?")):
            make_space("psigmoid", options)
    space = make_space("psigmoid")
    with pytest.raises(SpaceError, match="drop \\[CLS\\]"):
        space.check([64, 32, 16, 8, 0, 0])
    with pytest.raises(SpaceError, match="increases with depth"):
        space.check([64, 32, 40, 8, 4, 1])
    with pytest.raises(SpaceError, match="steepness"):
        space.schedule({"steepness": 500.0, "midpoint": 0.5, "floor": 0.1})
    assert list(tmp_path.iterdir()) == []


def test_the_space_declares_its_parameters_and_objectives_with_directions() -> None:
    space = make_space("psigmoid", {"budget": 0.3})
    assert set(space.params) == {"steepness", "midpoint", "floor"}
    assert [(o.name, o.direction) for o in space.objectives] == [("accuracy", "max"), ("flops", "min")]
    counts = space.schedule({"steepness": 10.0, "midpoint": 0.3, "floor": 0.1})
    assert counts[0] >= counts[-1] >= 1
    assert abs(encoder_flops(counts, 64, MINILM) / full_flops(64, MINILM) - 0.3) <= 0.0015
