"""The ``tas`` search space: one transformable architecture search (Dong and Yang, NeurIPS
2019) at a FLOPs target, then knowledge distillation into the network it found.

A trial's parameters are the search's settings (``flops_target``, ``tau_start``,
``tau_end``, ``cost_weight``, ``search_epochs``). The unpruned residual CNN is trained once
per task, shape and seed and cached; the search network starts from its weights, learns
width and depth distributions against the cost loss, and its most likely network, brought
inside the FLOPs band where the search ended outside it (:mod:`search_spaces.tas.band`), is
trained from scratch by distillation from the unpruned one. Objectives: ``accuracy`` of that network
on the validation split (max) and its ``flops`` per sample (min), counted by
``torch.utils.flop_counter.FlopCounterMode`` and checked against the formula of
:mod:`search_spaces.tas.arch`. The searched widths and depths are the trial's ``arch``
artifact. ``ctx.step(epoch, {accuracy, flops})`` reports each distillation epoch.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from search_spaces.base import EvalContext, Evaluation, Objective, SearchSpace, SpaceError, register_space
from search_spaces.params import Param, validate_config
from search_spaces.tas.arch import Arch, Candidates, Geometry, flops, full_arch
from search_spaces.tas.model import ResNet, SearchNet
from search_spaces.tas.options import TasOptions, parse_options
from search_spaces.tas.train import Data, SearchResult, SearchSettings, accuracy, fit, search, teacher
from search_spaces.tasks.threads import torch_threads
from search_spaces.tasks.vision import load_arrays


def geometry(task: str, blocks: int) -> Geometry:
    """The unpruned network of a built-in task."""
    if task == "mnist1d":
        return Geometry(1, 40, 1, 32, (32, 64), blocks, (2, 2))
    return Geometry(1, 8, 2, 16, (16, 32), blocks, (1, 2))


def counted_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs per sample of one forward pass, by ``FlopCounterMode``."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    return counter.get_total_flops() // example.shape[0]


@register_space("tas")
class TasSpace(SearchSpace):
    summary = "Transformable architecture search (TAS) at a FLOPs target, then KD: accuracy, FLOPs"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings: TasOptions = parse_options(self.options)
        self.geometry = geometry(self.settings.task, self.settings.blocks)
        self.candidates = Candidates.of(self.geometry, self.settings.width_fractions)
        self._data: Data | None = None
        self._teacher: ResNet | None = None

    @property
    def params(self) -> dict[str, Param]:
        return dict(self.settings.params)

    @property
    def objectives(self) -> list[Objective]:
        full = flops(full_arch(self.geometry), self.geometry)
        return [
            Objective("accuracy", "max", 0.0, "top-1 accuracy of the distilled network on the validation split"),
            Objective("flops", "min", 1.1 * full, "FLOPs per sample of the searched network (FlopCounterMode)"),
        ]

    def search_settings(self, config: dict[str, Any]) -> SearchSettings:
        """Validated settings of one trial (an error names the bad value; nothing is written)."""
        try:
            c = validate_config(self.params, config)
            return SearchSettings(
                target=c["flops_target"],
                tau_start=c["tau_start"],
                tau_end=c["tau_end"],
                cost_weight=c["cost_weight"],
                epochs=int(c["search_epochs"]),
            )
        except ValueError as e:
            raise SpaceError(f"tas: bad configuration: {e}") from None

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        start = time.perf_counter()
        settings = self.search_settings(config)
        with torch_threads(1):  # the networks are tiny: more threads only add overhead
            found = self.run_search(settings)
            student, steps = self.distil(found.arch, ctx)
        return self._evaluation(found, student, steps, start)

    # -- steps the benchmark reuses ------------------------------------------------------
    @property
    def data(self) -> Data:
        if self._data is None:
            self._data = Data.of(load_arrays(self.settings.task, self.settings.seed))
        return self._data

    @property
    def teacher(self) -> ResNet:
        """The unpruned network (trained on first use, then read from the cache)."""
        if self._teacher is None:
            s = self.settings
            self._teacher = teacher(s.task, self.geometry, self.data, s.teacher_epochs, s.seed)
        return self._teacher

    def run_search(self, settings: SearchSettings) -> SearchResult:
        """One TAS search, its network weights starting from the unpruned network's."""
        torch.manual_seed(self.settings.seed)
        net = SearchNet(self.geometry, self.candidates)
        net.net.load_state_dict(self.teacher.state_dict())
        return search(net, self.data.x_train, self.data.y_train, settings, self.settings.seed)

    def distil(self, arch: Arch, ctx: EvalContext | None = None, init: ResNet | None = None) -> tuple[ResNet, int]:
        """Train ``arch`` (from scratch, or from ``init``) by distillation from the unpruned
        network for ``kd_epochs``, reporting each epoch through ``ctx.step``; returns the
        network and the epochs run (fewer when the scheduler stopped it)."""
        torch.manual_seed(self.settings.seed)
        model = init if init is not None else ResNet(arch, self.geometry)
        f, d, done = flops(arch, self.geometry), self.data, [0]

        def report(epoch: int) -> bool:
            done[0] = epoch
            if ctx is None:
                return True
            return ctx.step(epoch, {"accuracy": accuracy(model, d.x_val, d.y_val), "flops": float(f)})

        fit(model, d.x_train, d.y_train, self.settings.kd_epochs, self.settings.seed, self.teacher, on_epoch=report)
        return model, done[0]

    def example(self) -> torch.Tensor:
        return self.data.x_val[:2]

    def _evaluation(self, found: SearchResult, student: ResNet, steps: int, start: float) -> Evaluation:
        g, d, arch = self.geometry, self.data, found.arch
        measured, formula = counted_flops(student, self.example()), flops(arch, g)
        if measured != formula:
            raise RuntimeError(
                f"tas: FlopCounterMode counts {measured} FLOPs but the formula gives {formula} for {arch}"
            )
        full = flops(full_arch(g), g)
        metrics = {
            "test_accuracy": accuracy(student, d.x_test, d.y_test),
            "teacher_accuracy": accuracy(self.teacher, d.x_val, d.y_val),
            "flops_ratio": measured / full,
            "expected_flops_ratio": found.expected_flops / full,
            "argmax_flops_ratio": flops(found.argmax, g) / full,  # before the band step
            "unpruned_flops": full,
            "kd_epochs_run": steps,
            "eval_s": time.perf_counter() - start,
        }
        values = {"accuracy": accuracy(student, d.x_val, d.y_val), "flops": float(measured)}
        return Evaluation(values, metrics, {"arch": arch.to_json()})
