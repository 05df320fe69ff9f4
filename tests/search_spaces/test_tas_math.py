"""TAS math on toy networks: expected FLOPs, CWI, two-of-k sampling, the cost loss, FLOPs
counted by FlopCounterMode, distillation and L1 pruning."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from search_spaces.tas import counted_flops
from search_spaces.tas.arch import (
    Arch,
    Candidates,
    Distributions,
    Geometry,
    argmax_arch,
    cost_loss,
    expected_flops,
    flops,
    full_arch,
    relative,
    uniform_at_flops,
)
from search_spaces.tas.model import ResNet, SearchNet, l1_pruned
from search_spaces.tas.select import cwi, sample_two
from search_spaces.tas.train import SearchSettings, fit, kl_to_teacher, search
from search_spaces.tasks.threads import torch_threads


@pytest.fixture(autouse=True)
def one_thread():
    """The toy networks are tiny: on a busy machine extra threads make them many times slower."""
    with torch_threads(1):
        yield


TOY = Geometry(in_channels=1, size=6, dims=2, stem=4, widths=(4, 8), blocks=3, strides=(1, 2))
TOY_1D = Geometry(in_channels=2, size=12, dims=1, stem=6, widths=(6, 10), blocks=2, strides=(2, 2), classes=3)


def random_distributions(c: Candidates, g: Geometry, seed: int) -> Distributions:
    gen = torch.Generator().manual_seed(seed)

    def p(n: int) -> torch.Tensor:
        return torch.randn(n, generator=gen, dtype=torch.float64).mul(2).softmax(0)

    return Distributions(
        p(len(c.stem)),
        tuple(p(len(w)) for w in c.widths),
        tuple(tuple(p(len(w)) for w in st) for st in c.inner),
        tuple(p(g.blocks) for _ in g.widths),
    )


def choices(widths: tuple[int, ...], p: torch.Tensor) -> list[tuple[int, float]]:
    return list(zip(widths, p.tolist(), strict=True))


def test_expected_flops_equals_the_exact_expectation_over_every_configuration_of_a_2x3_network():
    c = Candidates.of(TOY, [0.5, 1.0])
    p = random_distributions(c, TOY, seed=0)
    layers = [
        choices(c.stem, p.stem),
        *(choices(w, q) for w, q in zip(c.widths, p.widths, strict=True)),
        *(choices(w, q) for s in range(2) for w, q in zip(c.inner[s], p.inner[s], strict=True)),
    ]
    exact, total_p, n = 0.0, 0.0, 0
    for (stem, ps), (o1, p1), (o2, p2), *inner in itertools.product(*layers):
        p_widths = ps * p1 * p2 * math.prod(q for _, q in inner)
        a = [w for w, _ in inner]
        for d1, d2 in itertools.product(range(1, 4), repeat=2):
            arch = Arch(stem, (o1, o2), (tuple(a[:d1]), tuple(a[3 : 3 + d2])))
            prob = p_widths * float(p.depth[0][d1 - 1] * p.depth[1][d2 - 1])
            exact += prob * flops(arch, TOY)
            total_p += prob
            n += 1
    assert n == 2**9 * 9 and total_p == pytest.approx(1.0)
    assert float(expected_flops(p, c, TOY)) == pytest.approx(exact, rel=1e-12)


def test_expected_flops_of_certain_choices_is_that_network_and_the_argmax_picks_it():
    c = Candidates.of(TOY, [0.5, 1.0])
    one = torch.tensor([0.0, 1.0], dtype=torch.float64)
    p = Distributions(one, (one, one), ((one,) * 3, (one,) * 3), (torch.tensor([0.0, 1.0, 0.0]),) * 2)
    arch = argmax_arch(p, c)
    assert arch == Arch(4, (4, 8), ((4, 4), (8, 8)))
    assert float(expected_flops(p, c, TOY)) == pytest.approx(flops(arch, TOY))


def test_cwi_is_the_identity_when_widths_match_and_interpolates_otherwise():
    x = torch.randn(3, 5, 4, 4)
    assert torch.equal(cwi(x, 5), x)
    line = torch.randn(2, 7, 9)
    assert torch.equal(cwi(line, 7), line)
    ramp = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(2, 2, 3, 3)
    up = cwi(ramp, 4)
    assert up.shape == (2, 4, 3, 3)
    assert torch.allclose(up[0, :, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    assert torch.allclose(cwi(torch.full((1, 3, 5), 2.0), 8), torch.full((1, 8, 5), 2.0))


def test_two_of_k_sampling_draws_distinct_candidates_with_weights_that_carry_gradients():
    logits = torch.tensor([0.0, 1.0, -1.0, 3.0], requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(50):
        idx, w = sample_two(logits, 1.0, gen)
        assert len(set(idx.tolist())) == 2 and float(w.detach().sum()) == pytest.approx(1.0)
        seen.update(idx.tolist())
    assert seen == {0, 1, 2, 3}
    w[0].backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    cold = [
        int(sample_two(logits, 0.05, gen)[0][0] == 3 or sample_two(logits, 0.05, gen)[0][1] == 3) for _ in range(20)
    ]
    assert sum(cold) >= 15  # at a low temperature the most likely candidate is nearly always drawn
    with pytest.raises(ValueError, match=r"tau=0 must be positive"):
        sample_two(logits, 0, gen)


def test_cost_loss_is_zero_inside_the_tolerance_band_and_grows_outside():
    target = 1000.0
    e_small, e_big = torch.tensor(500.0), torch.tensor(2000.0)
    for inside in (951.0, 1000.0, 1049.0):
        assert float(cost_loss(e_big, inside, target)) == 0.0
    over_small, over_big = cost_loss(e_small, 1100.0, target), cost_loss(e_big, 1100.0, target)
    under_small, under_big = cost_loss(e_small, 900.0, target), cost_loss(e_big, 900.0, target)
    assert float(over_small) == pytest.approx(math.log(500.0)) and over_big > over_small > 0
    assert under_small > under_big and float(under_big) == pytest.approx(-math.log(2000.0))
    e = torch.tensor(1500.0, requires_grad=True)
    cost_loss(e, 2000.0, target).backward()
    assert e.grad > 0  # gradient descent lowers the expected cost when the network is too big
    e.grad = None
    cost_loss(e, 500.0, target).backward()
    assert e.grad < 0


@pytest.mark.parametrize("g", [TOY, TOY_1D])
def test_flop_counter_on_the_derived_network_equals_the_formula(g):
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):

        def w(n: int) -> int:
            return int(torch.randint(1, n + 1, (1,), generator=gen))

        depths = [int(torch.randint(1, g.blocks + 1, (1,), generator=gen)) for _ in g.widths]
        arch = Arch(
            w(g.stem),
            tuple(w(n) for n in g.widths),
            tuple(tuple(w(n) for _ in range(d)) for n, d in zip(g.widths, depths, strict=True)),
        )
        shape = (3, g.in_channels) + (g.size,) * g.dims
        assert counted_flops(ResNet(arch, g), torch.randn(shape)) == flops(arch, g)
    assert relative(full_arch(g), g) == 1.0


def test_uniform_scaling_at_a_budget_lands_near_it():
    full = flops(full_arch(TOY), TOY)
    arch = uniform_at_flops(TOY, 0.5 * full)
    assert abs(relative(arch, TOY) - 0.5) < 0.1
    assert arch.depths == (3, 3) and len(set(arch.inner[1])) == 1


def toy_data(g: Geometry, n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, g.in_channels) + (g.size,) * g.dims, generator=gen)
    return x, (x.flatten(1).mean(1) > 0).long() + (x.flatten(1)[:, 0] > 0).long()


def test_distillation_lowers_the_kl_to_the_teacher_on_the_training_data():
    torch.manual_seed(0)
    x, y = toy_data(TOY_1D)
    teacher = ResNet(full_arch(TOY_1D), TOY_1D).eval()
    with torch.no_grad():
        teacher.head.weight.mul_(300)  # confident soft targets, far from the student's
    student = ResNet(Arch(3, (3, 5), ((2,), (5, 5))), TOY_1D)
    before = kl_to_teacher(student, teacher, x)
    fit(student, x, y, epochs=15, seed=0, teacher=teacher, lr=1e-2)
    assert kl_to_teacher(student, teacher, x) < 0.75 * before


def test_l1_pruning_keeps_the_largest_filters_and_the_full_width_is_the_teacher():
    torch.manual_seed(0)
    teacher = ResNet(full_arch(TOY), TOY).eval()
    for p in teacher.parameters():
        p.data.normal_()
    x, _ = toy_data(TOY, 8)
    same = l1_pruned(teacher, full_arch(TOY)).eval()
    assert torch.allclose(same(x), teacher(x), atol=1e-5)
    small = l1_pruned(teacher, Arch(2, (2, 4), ((2,), (4, 3)))).eval()
    norms = teacher.stem.weight.abs().flatten(1).sum(1)
    kept = sorted(norms.topk(2).indices.tolist())
    assert torch.equal(small.stem.weight, teacher.stem.weight[kept])
    assert small(x).shape == (8, 10)


def band_gap(ratio: float, target: float, tolerance: float = 0.05) -> float:
    return max((1 - tolerance) * target - ratio, ratio - (1 + tolerance) * target, 0.0)


def test_search_at_a_lower_target_finds_a_smaller_network():
    x, y = toy_data(TOY, 128)
    ratios = {}
    for target in (0.2, 0.9):
        torch.manual_seed(0)
        net = SearchNet(TOY, Candidates.of(TOY, [0.25, 0.5, 0.75, 1.0]))
        found = search(net, x, y, SearchSettings(target=target, epochs=2, cost_weight=4.0, arch_lr=0.2), seed=0)
        ratios[target] = relative(found.arch, TOY)
        argmax = found.history[-1]["argmax_flops"] / flops(full_arch(TOY), TOY)
        # the network returned is never farther from the +-5 % band than the argmax
        assert band_gap(ratios[target], target) <= band_gap(argmax, target)
    assert ratios[0.2] < ratios[0.9]
    assert ratios[0.2] < 0.5


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"target": 0.0}, r"FLOPs target 0.0 must be in \(0, 1\]"),
        ({"target": 1.2}, r"FLOPs target 1.2 must be in \(0, 1\]"),
        ({"tau_start": 0.0}, r"tau_start=0.0 must be positive"),
        ({"tau_end": -1.0}, r"tau_end=-1.0 must be positive"),
    ],
)
def test_bad_search_settings_name_the_value(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        SearchSettings(**kwargs)
