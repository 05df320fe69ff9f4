"""The ``hawq`` search space: one bit-width per layer of a trained model.

Parameters are ``bits.<layer>`` (one ``Categorical`` of the allowed widths per quantizable
layer, in the model's ``named_modules`` order). Objectives: ``accuracy`` of the
fake-quantized model on held-out validation data (max; the test split for a user model that
gives no validation data, and test accuracy is always in the metrics, so a study chooses
without seeing the split it is reported on), ``size_mb`` (min), ``bops`` (min) and the
HAWQ-V2 proxy ``omega`` = Σ_i Ω_i(b_i) (min). A spec without ``objectives`` gets
:attr:`HawqSpace.default_objective_names` (accuracy, size_mb, bops); ``omega`` is always in
the metrics. Options: see :mod:`search_spaces.hawq.options`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import nn

from proxies.flops import CostModel
from proxies.hessian import Batch, quantizable_layers
from proxies.quant import calibrate_activations, quantized_activations, quantized_weights
from search_spaces.base import (
    EvalContext,
    Evaluation,
    Objective,
    SearchSpace,
    SpaceError,
    register_space,
)
from search_spaces.hawq.analysis import HessianSettings, Sensitivity, sensitivity
from search_spaces.hawq.model import (
    DigitsCNN,
    Mnist1dCNN,
    Task,
    TaskError,
    accuracy,
    builtin_task,
    cache_stem,
    torch_threads,
    user_task,
)
from search_spaces.hawq.options import HawqOptions, parse_options
from search_spaces.params import Categorical, Param, validate_config

_ARCH: dict[str, tuple[type[nn.Module], tuple[int, ...]]] = {
    "digits": (DigitsCNN, (1, 1, 8, 8)),
    "mnist1d": (Mnist1dCNN, (1, 1, 40)),
}


@register_space("hawq")
class HawqSpace(SearchSpace):
    summary = "Per-layer weight bit-widths of a trained CNN (HAWQ): accuracy, size, BOPs, Hessian Ω"
    default_objective_names: ClassVar[tuple[str, ...]] = ("accuracy", "size_mb", "bops")

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings: HawqOptions = parse_options(self.options)
        self._task: Task | None = None
        self._sens: Sensitivity | None = None
        self._ranges: dict[str, tuple[float, bool]] | None = None
        if self.settings.model is not None:
            try:
                self._task = user_task(self.settings.model, self.settings.model_kwargs)
            except TaskError as e:
                raise SpaceError(f"hawq: option model: {e}") from None
            arch, example = self._task.model, self._task.train[0][0][:1]
        else:
            cls, shape = _ARCH[self.settings.task]
            arch, example = cls(), torch.zeros(shape)
        self.layers: tuple[str, ...] = tuple(quantizable_layers(arch))
        self.costs: CostModel = CostModel.of(arch, example, self.layers, self.settings.act_bits)

    # -- the interface -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Param]:
        return {param_name(n): Categorical(self.settings.bits) for n in self.layers}

    @property
    def objectives(self) -> list[Objective]:
        top = self.costs.totals([max(self.settings.bits)] * len(self.layers))
        return [
            Objective("accuracy", "max", 0.0, "top-1 accuracy of the fake-quantized model on the validation "
                      "split (the test split for a user model without one; test accuracy is in the metrics)"),
            Objective("size_mb", "min", 1.1 * top["size_mb"], "weights at their widths, MB (10^6 B)"),
            Objective("bops", "min", 1.1 * top["bops"], "bit operations per sample: MACs x w x a bits"),
            Objective("omega", "min", None, "HAWQ-V2 Hessian proxy: sum of Tr(H_i)/n_i ||Q(W_i)-W_i||^2"),
        ]

    @property
    def default_objectives(self) -> list[Objective]:
        """The objectives a spec without ``objectives`` gets."""
        return [o for o in self.objectives if o.name in self.default_objective_names]

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        start = time.perf_counter()
        bits = self.layer_bits(config)
        with torch_threads(self.threads):
            test_acc = self.quantized_accuracy(bits)
            acc = self.measure(bits, self.task.val)[0] if self.task.val else test_acc
            omega = self.omega_of(bits)
        widths = [bits[n] for n in self.layers]
        totals = self.costs.totals(widths)
        metrics = {"omega": omega, "latency_us": totals["latency_us"], "test_accuracy": test_acc,
                   "float_accuracy": self.task.float_accuracy,
                   "mean_bits": sum(widths) / len(widths), "eval_s": time.perf_counter() - start}
        values = {"accuracy": acc, "size_mb": totals["size_mb"], "bops": totals["bops"], "omega": omega}
        return Evaluation(values, metrics, {"bits": bits})

    # -- helpers the sensitivity report and benchmarks use -------------------------------
    @property
    def task(self) -> Task:
        """The trained model and data (trained and cached on first use for built-in tasks)."""
        if self._task is None:
            self._task = builtin_task(self.settings.task, self.settings.seed)
        return self._task

    @property
    def threads(self) -> int | None:
        """Torch threads for built-in tasks (1: they are tiny); user models keep the default."""
        return None if self.settings.model else 1

    @property
    def hessian_settings(self) -> HessianSettings:
        s = self.settings
        return HessianSettings(s.hessian_iters, s.hessian_tol, s.hessian_batches, s.seed)

    def sensitivity(self) -> Sensitivity:
        """Per-layer traces and Ω table (cached in memory, and on disk for built-in tasks)."""
        if self._sens is None:
            key = None if self.settings.model else cache_stem(self.settings.task, self.settings.seed)
            with torch_threads(self.threads):
                self._sens = sensitivity(self.task, self.layers, self.settings.bits,
                                         self.settings.per_channel, self.hessian_settings, key)
        return self._sens

    def layer_bits(self, config: dict[str, Any]) -> dict[str, int]:
        """``{layer: bits}`` from a configuration ``{"bits.<layer>": bits}``."""
        try:
            clean = validate_config(self.params, config)
        except ValueError as e:
            raise SpaceError(f"hawq: bad configuration: {e}") from None
        return {n: int(clean[param_name(n)]) for n in self.layers}

    def config_of(self, widths: dict[str, int] | list[int] | tuple[int, ...]) -> dict[str, int]:
        """The configuration of a bit assignment given per layer (by name or in layer order)."""
        if not isinstance(widths, dict):
            widths = dict(zip(self.layers, widths, strict=True))
        return {param_name(n): int(widths[n]) for n in self.layers}

    def omega_of(self, bits: dict[str, int]) -> float:
        """Σ_i Ω_i(b_i) of a ``{layer: bits}`` assignment."""
        sens = self.sensitivity()
        col = {b: k for k, b in enumerate(sens.bit_choices)}
        return float(sum(sens.omega[i, col[bits[n]]] for i, n in enumerate(self.layers)))

    def quantized_accuracy(self, bits: dict[str, int]) -> float:
        """Held-out (test) accuracy with weights at ``bits`` and activations at ``act_bits``."""
        with self.quantized(bits) as model:
            return accuracy(model, self.task.test)

    def measure(self, bits: dict[str, int], batches: Sequence[Batch]) -> tuple[float, float]:
        """``(accuracy, mean loss)`` of the model quantized at ``bits`` over ``batches``."""
        hits = total = 0
        loss = 0.0
        with self.quantized(bits) as model, torch.no_grad():
            for x, y in batches:
                out = model(x)
                hits += int((out.argmax(1) == y).sum())
                loss += float(self.task.criterion(out, y)) * len(y)
                total += len(y)
        return hits / max(total, 1), loss / max(total, 1)

    @contextmanager
    def quantized(self, bits: dict[str, int]) -> Iterator[nn.Module]:
        """The task's model with weights at ``bits`` and activations at ``act_bits`` (restored on exit)."""
        model = self.task.model
        acts = dict.fromkeys(self.layers, self.settings.act_bits)
        with quantized_weights(model, bits, self.settings.per_channel), \
                quantized_activations(model, acts, self._activation_ranges()):
            yield model

    def _activation_ranges(self) -> dict[str, tuple[float, bool]]:
        if self._ranges is None:
            self._ranges = calibrate_activations(self.task.model, self.task.train[:4], self.layers)
        return self._ranges


def param_name(layer: str) -> str:
    """``bits.<layer>``: the parameter that holds a layer's weight bit-width."""
    return f"bits.{layer}"

