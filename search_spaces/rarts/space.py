"""The ``rarts`` search space: one differentiable search, then the network it derives.

A trial is one search with the trial's settings and budget (RARTS by default, first-order
DARTS with ``method: darts1``; over cells, or over widths with ``search: width``), followed
by training the derived network from scratch on the whole training split. Parameters:
``beta`` (RARTS coupling strength; absent for ``darts1``), ``arch_lr``, ``epochs`` (search
epochs) and ``channels``. Objectives: ``accuracy`` of the derived network on the held-out
validation split (max) and its ``params`` (min). Metrics carry the genotype (or widths), the
test accuracy, the search time per epoch and the supernet's history; the genotype is also an
artifact. Each training epoch of the derived network is reported through ``ctx.step``
(steps are training epochs, the same fidelity in every trial; the search epochs, which a
trial's own parameter sets, are reported as text).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import torch

from search_spaces.base import EvalContext, Evaluation, Objective, SearchSpace, SpaceError, register_space
from search_spaces.params import Float, Int, Param, validate_config
from search_spaces.rarts.cells import DerivedNetwork
from search_spaces.rarts.data import TaskData, load_task
from search_spaces.rarts.options import RartsOptions, parse_options
from search_spaces.rarts.search import SearchResult, SearchSettings, run_search
from search_spaces.rarts.train import TrainSettings, accuracy, n_params, train
from search_spaces.rarts.width import WidthNetwork

INTEGER = ("epochs", "channels")


@register_space("rarts")
class RartsSpace(SearchSpace):
    summary = "RARTS (or first-order DARTS) cell/width search, then the derived net: accuracy, params"
    default_objective_names: ClassVar[tuple[str, ...]] = ("accuracy", "params")

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings: RartsOptions = parse_options(self.options)
        self._data: TaskData | None = None

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Every search setting a trial may set, with its range (``beta``: RARTS only)."""
        o = self.settings
        out = {"beta": o.beta} if o.method == "rarts" else {}
        return {**out, "arch_lr": o.arch_lr, "epochs": o.epochs, "channels": o.channels}

    @property
    def params(self) -> dict[str, Param]:
        """The settings whose range is not pinned to one value."""
        out: dict[str, Param] = {}
        for name, (lo, hi) in self.ranges.items():
            if lo < hi:
                out[name] = Int(int(lo), int(hi)) if name in INTEGER else Float(lo, hi, log=True)
        return out

    @property
    def objectives(self) -> list[Objective]:
        return [
            Objective("accuracy", "max", 0.0, "validation accuracy of the derived network after training"),
            Objective("params", "min", None, "parameters of the derived network"),
        ]

    @property
    def data(self) -> TaskData:
        if self._data is None:
            self._data = load_task(self.settings.task, self.settings.seed)
        return self._data

    def search_settings(self, config: dict[str, Any]) -> SearchSettings:
        """The search a configuration describes (validated against :attr:`params`)."""
        try:
            c = {**{k: lo for k, (lo, _) in self.ranges.items()}, **validate_config(self.params, config)}
        except ValueError as e:
            raise SpaceError(f"rarts: bad configuration: {e}") from None
        o = self.settings
        return SearchSettings(
            method=o.method,
            alpha_grad=o.alpha_grad,
            search=o.search,
            primitives=o.primitives,
            nodes=o.nodes,
            layers=o.layers,
            channels=int(c["channels"]),
            epochs=int(c["epochs"]),
            batch_size=o.batch_size,
            w_lr=o.w_lr,
            y_lr=o.y_lr,
            arch_lr=float(c["arch_lr"]),
            arch_weight_decay=o.arch_weight_decay,
            lam=o.lam,
            beta=float(c.get("beta", 0.0)),
            fractions=o.fractions,
            width_cost=o.width_cost,
            seed=o.seed,
        )

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        s = self.search_settings(config)
        before = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny networks: more threads only add synchronisation
        try:
            return self._evaluate(s, ctx)
        finally:
            torch.set_num_threads(before)

    def _evaluate(self, s: SearchSettings, ctx: EvalContext) -> Evaluation:
        t0 = time.perf_counter()
        found = run_search(
            s,
            self.data,
            lambda e, row: ctx.report(
                f"search epoch {e}/{s.epochs}: supernet accuracy {row['supernet_val_accuracy']:.3f}"
            ),
        )
        search_s = time.perf_counter() - t0
        net = self.derived_network(found, s.channels)
        size = n_params(net)
        acc = train(
            net, self.data, self.train_settings, lambda e, a: ctx.step(e, {"accuracy": a, "params": float(size)})
        )
        metrics = {
            "genotype": found.describe(),
            "test_accuracy": accuracy(net, self.data.test),
            "search_s": search_s,
            "search_epoch_s": sum(found.epoch_s) / max(len(found.epoch_s), 1),
            "train_s": time.perf_counter() - t0 - search_s,
            "supernet_val_accuracy": found.history[-1]["supernet_val_accuracy"],
        }
        arch = found.genotype.to_json() if found.genotype is not None else {"widths": found.widths}
        return Evaluation({"accuracy": acc, "params": float(size)}, metrics, {"genotype": arch})

    @property
    def train_settings(self) -> TrainSettings:
        o = self.settings
        return TrainSettings(epochs=o.train_epochs, lr=o.train_lr, batch_size=o.batch_size, seed=o.seed)

    def derived_network(self, found: SearchResult, channels: int) -> torch.nn.Module:
        """The network a search derived, freshly initialised (seeded by the space's seed)."""
        torch.manual_seed(self.settings.seed)
        if found.genotype is not None:
            return DerivedNetwork(found.genotype, channels, self.settings.layers, self.data.dim)
        assert found.widths is not None
        return WidthNetwork(found.widths, self.data.dim)
