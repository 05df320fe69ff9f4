"""The search's network is brought inside the FLOPs band around the target."""

from __future__ import annotations

import pytest
import torch

from search_spaces.tas.arch import Candidates, Distributions, argmax_arch, flops, full_arch
from search_spaces.tas.band import argmax_index, build, choices, in_band
from tests.search_spaces.test_tas_math import TOY, TOY_1D, random_distributions

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def peaked_at_full(c: Candidates, blocks: int, soft: str = "") -> Distributions:
    """Every decision almost surely at its largest candidate; decisions of kind ``soft``
    nearly uniform (their largest candidate still first)."""

    def p(n: int, kind: str) -> torch.Tensor:
        logits = torch.arange(n, dtype=torch.float64) * (0.01 if kind == soft else 5.0)
        return logits.softmax(0)

    return Distributions(
        p(len(c.stem), "stem"),
        tuple(p(len(w), "width") for w in c.widths),
        tuple(tuple(p(len(w), "inner") for w in st) for st in c.inner),
        tuple(p(blocks, "depth") for _ in c.widths),
    )


@pytest.mark.parametrize("g", [TOY, TOY_1D], ids=["2d", "1d"])
@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.7])
def test_the_network_lands_inside_the_band_from_the_full_network(g, ratio):
    c = Candidates.of(g, FRACTIONS)
    target = ratio * flops(full_arch(g), g)
    arch = in_band(peaked_at_full(c, g.blocks), c, g, target, 0.1)
    assert 0.9 * target <= flops(arch, g) <= 1.1 * target


@pytest.mark.parametrize("seed", range(5))
def test_a_network_already_inside_the_band_is_the_argmax(seed):
    c = Candidates.of(TOY, FRACTIONS)
    p = random_distributions(c, TOY, seed)
    argmax = argmax_arch(p, c)
    assert build(argmax_index(p), c) == argmax
    assert in_band(p, c, TOY, flops(argmax, TOY), 0.05) == argmax


def test_the_cheapest_decisions_in_probability_move_first():
    """Inner widths nearly uniform, everything else peaked: reaching 60 % of the FLOPs
    narrows inner convs only, and the other decisions keep their argmax."""
    c = Candidates.of(TOY, FRACTIONS)
    p = peaked_at_full(c, TOY.blocks, soft="inner")
    target = 0.6 * flops(full_arch(TOY), TOY)
    arch = in_band(p, c, TOY, target, 0.05)
    assert 0.95 * target <= flops(arch, TOY) <= 1.05 * target
    assert (arch.stem, arch.widths, arch.depths) == (TOY.stem, TOY.widths, (TOY.blocks,) * 2)
    assert any(a < TOY.widths[s] for s, st in enumerate(arch.inner) for a in st)


def test_a_band_out_of_reach_gives_the_nearest_network_tried():
    """Below the smallest network's FLOPs every decision ends at its smallest candidate."""
    c = Candidates.of(TOY, FRACTIONS)
    arch = in_band(peaked_at_full(c, TOY.blocks), c, TOY, 1.0, 0.05)
    smallest = {k: 0 for k in choices(peaked_at_full(c, TOY.blocks))}
    assert arch == build(smallest, c)
