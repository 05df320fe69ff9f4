"""The rarts space: derivation, mixed operations, one search step, options, one tiny trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from search_spaces import EvalContext, SpaceError, get_space_class, make_space
from search_spaces.rarts import RartsSpace
from search_spaces.rarts.cells import Alphas, DerivedNetwork, MixedOp
from search_spaces.rarts.data import load_task
from search_spaces.rarts.genotype import Genotype, derive_cell, num_edges, random_genotype
from search_spaces.rarts.ops import PRIMITIVES
from search_spaces.rarts.search import SearchSettings, build, loss_fn, run_search, twin
from search_spaces.rarts.update import darts1_step, rarts_step
from search_spaces.rarts.width import soft_mask

TINY = {
    "nodes": 1,
    "layers": 2,
    "batch_size": 256,
    "train_epochs": 2,
    "epochs": 1,
    "channels": 2,
    "primitives": ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"],
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NAS_CACHE_DIR", str(tmp_path_factory.mktemp("nas-cache")))
    torch.set_num_threads(1)
    yield
    mp.undo()


def test_derivation_keeps_two_inputs_per_node_and_never_none_even_when_none_dominates():
    rng = np.random.default_rng(0)
    for nodes in (1, 2, 4):
        w = rng.random((num_edges(nodes), len(PRIMITIVES)))
        w[:, 0] += 5.0  # 'none' is the largest weight on every edge
        w /= w.sum(1, keepdims=True)
        cell = derive_cell(w, PRIMITIVES)
        assert len(cell) == 2 * nodes
        for j in range(nodes):
            (_, a), (_, b) = cell[2 * j : 2 * j + 2]
            assert a < b < 2 + j  # two distinct earlier states
        assert all(op != "none" for op, _ in cell)


def test_derivation_picks_the_strongest_edges_and_their_strongest_real_op():
    w = np.full((num_edges(2), 3), 1 / 3)  # ops: none, skip, conv; node 0: edges 0-1, node 1: edges 2-4
    w[1] = [0.1, 0.2, 0.7]
    w[3] = [0.0, 0.9, 0.1]
    w[4] = [0.2, 0.6, 0.2]
    cell = derive_cell(w, ("none", "skip", "conv"))
    assert cell == (("skip", 0), ("conv", 1), ("skip", 1), ("skip", 2))


def test_mixed_op_weights_sum_to_one_and_mix_the_candidate_outputs():
    alphas = Alphas(2, PRIMITIVES, init_scale=1.0, generator=torch.Generator().manual_seed(0))
    for red in (False, True):
        assert torch.allclose(alphas.weights(red).sum(-1), torch.ones(num_edges(2)))
    op = MixedOp(PRIMITIVES, 4, 1, 2).eval()
    x, wts = torch.randn(3, 4, 8, 8), alphas.weights(False)[0]
    want = sum(w * o(x) for w, o in zip(wts, op.ops, strict=True))
    assert torch.allclose(op(x, wts), want, atol=1e-6)


def test_width_soft_mask_is_the_expected_keep_indicator():
    probs = torch.tensor([0.5, 0.25, 0.25])
    m = soft_mask(probs, [1, 2, 4], 4)
    assert torch.allclose(m, torch.tensor([1.0, 0.5, 0.25, 0.25]))


@pytest.mark.parametrize("method", ["rarts", "rarts-reuse", "darts1"])
def test_one_search_step_gives_every_weight_and_architecture_parameter_a_gradient(method):
    s = SearchSettings(primitives=PRIMITIVES, nodes=1, layers=2, channels=2)
    alphas, net_w = build(s, 2)
    net_y = twin(net_w, alphas, s, 2)
    assert not set(map(id, alphas.parameters())) & set(map(id, net_w.parameters()))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    w, yy, a = list(net_w.parameters()), list(net_y.parameters()), list(alphas.parameters())
    before = [p.detach().clone() for p in a]
    opt = [torch.optim.SGD(g, lr=0.01) for g in (w, yy, a)]
    if method.startswith("rarts"):
        fresh = method == "rarts"
        rarts_step(w, yy, a, *opt, loss_fn(net_w, (x, y)), loss_fn(net_y, (x, y)), 1.0, 1.0, fresh_alpha=fresh)
        groups = w + yy + a
    else:
        darts1_step(w, a, opt[0], opt[2], loss_fn(net_w, (x, y)), loss_fn(net_w, (x, y)))
        groups = w + a
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in groups)
    assert sum(int(p.grad.abs().sum() > 0) for p in groups) == len(groups)
    assert all(not torch.equal(p, q) for p, q in zip(a, before, strict=True))


@pytest.mark.parametrize("dim", [1, 2])
def test_derived_network_runs_in_one_and_two_dimensions(dim):
    g = random_genotype(2, PRIMITIVES, np.random.default_rng(0))
    assert Genotype.from_json(json.loads(str(g))) == g
    net = DerivedNetwork(g, 4, 3, dim)
    x = torch.randn(5, 1, 40) if dim == 1 else torch.randn(5, 1, 8, 8)
    assert net(x).shape == (5, 10)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"primitives": ["skip_connect", "conv_7x7"]}, "conv_7x7"),
        ({"nodes": 0}, "nodes=0"),
        ({"w_lr": 0.0}, "w_lr=0.0"),
        ({"arch_lr": [-1e-3, 1e-2]}, "arch_lr"),
        ({"epochs": 0}, "epochs"),
        ({"train_epochs": -2}, "train_epochs=-2"),
        ({"method": "darts2"}, "darts2"),
        ({"primitives": ["none"]}, "none"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_options_name_the_value_and_write_nothing(options, named, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    with pytest.raises(SpaceError, match=named):
        make_space("rarts", options)
    assert not any(tmp_path.iterdir())


def test_space_lists_the_search_settings_and_pins_single_values():
    s = make_space("rarts")
    assert get_space_class("rarts") is RartsSpace
    assert list(s.params) == ["beta", "arch_lr", "epochs", "channels"]
    assert [(o.name, o.direction) for o in s.objectives] == [("accuracy", "max"), ("params", "min")]
    d = make_space("rarts", {"method": "darts1", "epochs": 3})
    assert list(d.params) == ["arch_lr", "channels"]
    assert d.search_settings({"arch_lr": 1e-3, "channels": 4}).epochs == 3


@pytest.mark.parametrize("search", ["cell", "width"])
def test_one_tiny_trial_searches_trains_and_reports_each_training_epoch(search):
    space = make_space("rarts", {**TINY, "search": search})
    steps: list[tuple[int, dict]] = []
    ev = space.evaluate({"beta": 1.0, "arch_lr": 3e-3}, EvalContext(on_step=lambda k, v: steps.append((k, v)) or True))
    assert [k for k, _ in steps] == [1, 2]
    assert steps[-1][1] == ev.values
    assert 0.0 <= ev.values["accuracy"] <= 1.0 and ev.values["params"] > 0
    assert 0.0 <= ev.metrics["test_accuracy"] <= 1.0
    if search == "cell":
        g = Genotype.from_json(ev.artifacts["genotype"])
        assert len(g.normal) == len(g.reduce) == 2 and str(g) == ev.metrics["genotype"]
    else:
        widths = ev.artifacts["genotype"]["widths"]
        assert len(widths) == 2 and all(1 <= w <= 4 for w in widths)


def test_a_stopped_trial_returns_after_the_step_that_said_stop():
    space = make_space("rarts", {**TINY, "train_epochs": 3})
    seen: list[int] = []
    space.evaluate({"beta": 1.0, "arch_lr": 3e-3}, EvalContext(on_step=lambda k, v: seen.append(k) or False))
    assert seen == [1]


SEARCH = dict(
    primitives=tuple(TINY["primitives"]), nodes=2, layers=2, channels=2, epochs=1, batch_size=256, arch_lr=0.05, seed=3
)
SCRIPT = f"""
import torch; torch.set_num_threads(1)
from search_spaces.rarts.data import load_task
from search_spaces.rarts.search import SearchSettings, run_search
print(run_search(SearchSettings(**{SEARCH!r}), load_task("digits", 3)).describe())
"""


def test_same_seed_gives_the_same_genotype_in_a_fresh_process():
    here = run_search(SearchSettings(**SEARCH), load_task("digits", 3)).describe()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NAS_CACHE_DIR": os.environ["NAS_CACHE_DIR"]}
    fresh = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env)
    assert fresh.stdout.strip() == here
    assert len(Genotype.from_json(json.loads(here)).normal) == 4
