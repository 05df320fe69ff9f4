"""One differentiable search (RARTS or first-order DARTS) over cells or widths.

Everything but the update is shared between the two methods: the supernet, the data halves
and their batch order, the optimizers (SGD with momentum and a cosine schedule for weights,
Adam for the architecture, as DARTS), the gradient clipping and the derivation. RARTS holds a
second weight copy ``y`` (same initial weights as ``w``) fit on the validation half.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.rarts.cells import Alphas, SearchNetwork
from search_spaces.rarts.data import TaskData, batches
from search_spaces.rarts.genotype import Genotype
from search_spaces.rarts.train import accuracy
from search_spaces.rarts.update import darts1_step, rarts_step
from search_spaces.rarts.width import WidthAlphas, WidthSearchNetwork

Supernet = SearchNetwork | WidthSearchNetwork


@dataclass(frozen=True)
class SearchSettings:
    method: str = "rarts"  # "rarts" or "darts1"
    alpha_grad: str = "fresh"  # RARTS (4c) at (w⁺, y⁺) ("fresh", the paper) or from (4a)/(4b) ("reuse")
    search: str = "cell"  # "cell" or "width"
    primitives: tuple[str, ...] = ()
    nodes: int = 3
    layers: int = 3
    channels: int = 8
    epochs: int = 5
    batch_size: int = 64
    w_lr: float = 0.05
    y_lr: float = 0.05
    arch_lr: float = 3e-3
    arch_weight_decay: float = 1e-3
    lam: float = 1.0
    beta: float = 1.0
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    width_cost: float = 0.5
    seed: int = 0


@dataclass
class SearchResult:
    genotype: Genotype | None  # cell search
    widths: list[int] | None  # width search
    epoch_s: list[float] = field(default_factory=list)  # search wall time per epoch
    history: list[dict[str, float]] = field(default_factory=list)

    def describe(self) -> str:
        return str(self.genotype) if self.genotype is not None else f"widths={self.widths}"


def build(s: SearchSettings, dim: int) -> tuple[nn.Module, Supernet]:
    """The architecture parameters and the ``w`` supernet, seeded by ``s.seed``."""
    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    if s.search == "width":
        wa = WidthAlphas(s.layers, s.fractions, generator=gen)
        return wa, WidthSearchNetwork(wa, s.channels, s.layers, dim)
    ca = Alphas(s.nodes, s.primitives, generator=gen)
    return ca, SearchNetwork(ca, s.channels, s.layers, dim)


def twin(net: Supernet, alphas: nn.Module, s: SearchSettings, dim: int) -> Supernet:
    """A second copy of ``net`` on the same alphas, starting from the same weights."""
    copy: Supernet
    if isinstance(net, WidthSearchNetwork):
        assert isinstance(alphas, WidthAlphas)
        copy = WidthSearchNetwork(alphas, s.channels, s.layers, dim)
    else:
        assert isinstance(alphas, Alphas)
        copy = SearchNetwork(alphas, s.channels, s.layers, dim)
    copy.load_state_dict(net.state_dict())
    return copy


def weight_opt(
    net: nn.Module, lr: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr / 20)


def loss_fn(net: Supernet, batch: tuple[Tensor, Tensor], width_cost: float = 0.0) -> Callable[[], Tensor]:
    """Cross-entropy of ``net`` on ``batch``, plus ``width_cost · E[width share]`` in width search.
    Only validation losses carry the penalty: it depends on the architecture alone, so it
    leaves every weight gradient as it is and enters each architecture step once."""
    x, y = batch

    def loss() -> Tensor:
        out = F.cross_entropy(net(x), y)
        if isinstance(net, WidthSearchNetwork) and width_cost > 0:
            out = out + width_cost * net.expected_width()
        return out

    return loss


def derive(alphas: nn.Module, net: Supernet) -> tuple[Genotype | None, list[int] | None]:
    if isinstance(net, WidthSearchNetwork):
        return None, net.derived_widths()
    assert isinstance(alphas, Alphas)
    return alphas.genotype(), None


def run_search(
    s: SearchSettings, data: TaskData, on_epoch: Callable[[int, dict[str, float]], None] | None = None
) -> SearchResult:
    alphas, net_w = build(s, data.dim)
    net_y = twin(net_w, alphas, s, data.dim) if s.method == "rarts" else None
    steps = s.epochs * math.ceil(len(data.search_a[0]) / s.batch_size)
    opt_w, sched_w = weight_opt(net_w, s.w_lr, steps)
    opt_y, sched_y = weight_opt(net_y, s.y_lr, steps) if net_y is not None else (None, None)
    opt_a = torch.optim.Adam(alphas.parameters(), lr=s.arch_lr, betas=(0.5, 0.999), weight_decay=s.arch_weight_decay)
    gen_a, gen_b = (torch.Generator().manual_seed(s.seed + k) for k in (1, 2))
    w, a = list(net_w.parameters()), list(alphas.parameters())
    result = SearchResult(None, None)
    for epoch in range(1, s.epochs + 1):
        t0, sums, n = time.perf_counter(), {"train_loss": 0.0, "val_loss": 0.0}, 0
        for bt, bv in zip(
            batches(data.search_a, s.batch_size, gen_a), batches(data.search_b, s.batch_size, gen_b), strict=False
        ):
            if net_y is not None and opt_y is not None and sched_y is not None:
                out = rarts_step(
                    w,
                    list(net_y.parameters()),
                    a,
                    opt_w,
                    opt_y,
                    opt_a,
                    loss_fn(net_w, bt),
                    loss_fn(net_y, bv, s.width_cost),
                    s.lam,
                    s.beta,
                    max_norm=5.0,
                    fresh_alpha=s.alpha_grad == "fresh",
                )
                sched_y.step()
            else:
                out = darts1_step(
                    w, a, opt_w, opt_a, loss_fn(net_w, bt), loss_fn(net_w, bv, s.width_cost), max_norm=5.0
                )
            sched_w.step()
            sums = {k: sums[k] + out[k] for k in sums}
            n += 1
        row = {
            "epoch": float(epoch),
            "search_s": time.perf_counter() - t0,
            **{k: v / max(n, 1) for k, v in sums.items()},
            "supernet_val_accuracy": accuracy(net_w, data.val),
        }
        result.epoch_s.append(row["search_s"])
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, row)
    result.genotype, result.widths = derive(alphas, net_w)
    return result
