"""AutoPEFT's modules on a tiny BertModel: parameter counts, zero-initialised adapters, layers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from search_spaces.autopeft.modules import PeftChoice, adapter_config, insert, parameter_count
from search_spaces.tasks.textclf import EncoderClassifier, trainable_parameters

HIDDEN, LAYERS = 16, 3


def _bert() -> BertModel:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=200,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    return BertModel(cfg).eval()


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 200, (3, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


def _random_choice(rng: np.random.Generator) -> PeftChoice:
    while True:
        layers = tuple(i for i in range(LAYERS) if rng.random() < 0.6)
        c = PeftChoice(
            int(rng.choice([0, 1, 3, 6, 12, 16])),
            int(rng.choice([0, 1, 3, 5, 16])),
            int(rng.choice([0, 1, 3, 6])),
            layers,
        )
        if not c.empty:
            return c


def test_reported_trainable_count_equals_requires_grad_elements_for_50_random_configurations() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        choice = _random_choice(rng)
        model = EncoderClassifier(insert(_bert(), choice), classes=5)
        measured = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert trainable_parameters(model) == measured
        assert parameter_count(choice, HIDDEN) + HIDDEN * 5 + 5 == measured, choice


def test_only_the_chosen_layers_get_modules() -> None:
    enc = insert(_bert(), PeftChoice(serial=4, parallel=2, prefix=3, layers=(1,)))
    names = [n for n, p in enc.named_parameters() if p.requires_grad]
    bottlenecks = [n for n in names if ".adapters." in n]
    assert bottlenecks and all(n.startswith("encoder.layer.1.") for n in bottlenecks)
    assert any("prefix" in n for n in names)


def test_zero_initialised_up_projections_leave_the_encoder_outputs_unchanged() -> None:
    ids, mask = _inputs()
    base = _bert()
    with torch.no_grad():
        want = base(input_ids=ids, attention_mask=mask).last_hidden_state
    enc = insert(copy.deepcopy(base), PeftChoice(serial=6, parallel=3, layers=(0, 1, 2))).eval()
    ups = [m for n, m in enc.named_modules() if n.endswith("adapter_up")]
    assert len(ups) == 2 * LAYERS
    with torch.no_grad():
        moved = enc(input_ids=ids, attention_mask=mask).last_hidden_state
        for up in ups:
            up.weight.zero_()
            up.bias.zero_()
        got = enc(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (moved - want).abs().max() > 1e-4  # the modules are live in the forward pass
    assert torch.allclose(got, want, atol=1e-6, rtol=0)


def test_nothing_to_insert_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to insert"):
        adapter_config(PeftChoice(serial=8, layers=()), HIDDEN, LAYERS)
    with pytest.raises(ValueError, match="nothing to insert"):
        adapter_config(PeftChoice(layers=(0, 1)), HIDDEN, LAYERS)
