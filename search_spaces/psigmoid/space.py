"""The ``psigmoid`` search space: P-Sigmoid per-layer token keep ratios at a FLOPs budget.

A trial is the three parameters of the P-Sigmoid curve (``steepness``, ``midpoint``,
``floor``; see :mod:`search_spaces.psigmoid.schedule` for the formula and the FLOPs model).
The curve is scaled so the encoder's FLOPs meet the ``budget`` option, turned into keep
counts for a ``max_length``-token article, and the fine-tuned MiniLM-L6 classifier
(:mod:`search_spaces.psigmoid.model`) is run with attention-ranked token reduction
(:mod:`search_spaces.psigmoid.reduce`).

Objectives: ``accuracy`` on a seeded validation subset under reduction (max) and the
encoder's ``flops`` per article (min). Metrics: ``test_accuracy`` (a seeded test subset;
left out with ``test_size: 0``),
the unreduced validation accuracy, the achieved FLOPs ratio and the keep counts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from search_spaces.base import EvalContext, Evaluation, Objective, SearchSpace, SpaceError, register_space
from search_spaces.params import Float, Param, validate_config
from search_spaces.psigmoid.options import PSigmoidOptions, parse_options
from search_spaces.psigmoid.schedule import (
    BudgetError,
    EncoderDims,
    Family,
    Schedule,
    check_schedule,
    encoder_flops,
    fit_budget,
    full_flops,
    min_budget,
    psigmoid_shape,
    scaled,
)
from search_spaces.tasks.text import TextSplit, TextTask, bbc_minilm

# MiniLM-L6 (all-MiniLM-L6-v2): 6 layers, hidden 384, FFN 1536; checked against the loaded config
MINILM = EncoderDims(layers=6, hidden=384, ffn=1536)
SCALE_RANGE = (1e-12, 1e30)


@register_space("psigmoid")
class PSigmoidSpace(SearchSpace):
    summary = "P-Sigmoid per-layer token keep ratios of a fine-tuned MiniLM-L6 at a FLOPs budget: accuracy, FLOPs"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings: PSigmoidOptions = parse_options(self.options)
        self.dims = MINILM
        self.length = self.settings.max_length
        self.min_keep = 1 + self.settings.keep_leading
        floor = min_budget(self.length, self.dims, self.min_keep)
        if self.settings.budget < floor:
            raise SpaceError(
                f"psigmoid: option budget={self.settings.budget:g} is below {floor:.4f}, the FLOPs "
                f"of keeping only the {self.min_keep} protected token(s); raise it"
            )
        self._task: TextTask | None = None
        self._model: Any = None
        self._base: float | None = None

    @property
    def params(self) -> dict[str, Param]:
        return {"steepness": Float(0.5, 50.0, log=True), "midpoint": Float(0.0, 1.0), "floor": Float(0.0, 1.0)}

    @property
    def objectives(self) -> list[Objective]:
        full = float(full_flops(self.length, self.dims))
        return [
            Objective("accuracy", "max", 0.0, "validation accuracy (seeded subset) with token reduction"),
            Objective("flops", "min", 1.1 * full, f"encoder FLOPs per {self.length}-token article"),
        ]

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        start = time.perf_counter()
        counts = self.schedule(config)
        val = self.reduced_accuracy(counts, self.val)
        test = self.reduced_accuracy(counts, self.test)
        flops = encoder_flops(counts, self.length, self.dims)
        metrics = {
            "test_accuracy": test,
            "unreduced_accuracy": self.unreduced_accuracy,
            "flops_ratio": flops / full_flops(self.length, self.dims),
            "budget": self.settings.budget,
            "keep_counts": list(counts),
            "eval_s": time.perf_counter() - start,
        }
        return Evaluation({"accuracy": val, "flops": float(flops)}, metrics, {"keep_counts": list(counts)})

    # -- schedules -------------------------------------------------------------------------
    def schedule(self, config: dict[str, Any]) -> Schedule:
        """Keep counts of a trial's P-Sigmoid parameters, fitted to the budget."""
        try:
            c = validate_config(self.params, config)
        except ValueError as e:
            raise SpaceError(f"psigmoid: bad configuration: {e}") from None
        shape = psigmoid_shape(c["steepness"], c["midpoint"], c["floor"], self.dims.layers)
        return self.fit(scaled(shape), SCALE_RANGE)

    def fit(self, family: Family, t_range: tuple[float, float], budget: float | None = None) -> Schedule:
        """The schedule of ``family`` nearest ``budget`` (default: the option)."""
        try:
            return fit_budget(
                family,
                t_range,
                self.settings.budget if budget is None else budget,
                self.length,
                self.dims,
                self.min_keep,
            )
        except BudgetError as e:
            raise SpaceError(f"psigmoid: {e}") from None

    def check(self, counts: Sequence[int]) -> Schedule:
        try:
            return check_schedule(counts, self.length, self.min_keep, self.dims.layers)
        except BudgetError as e:
            raise SpaceError(f"psigmoid: {e}") from None

    # -- the model and data ----------------------------------------------------------------
    @property
    def task(self) -> TextTask:
        if self._task is None:
            self._task = bbc_minilm(self.length, self.settings.seed)
        return self._task

    @property
    def model(self) -> Any:
        """The fine-tuned classifier (trained once per seed and cached on disk)."""
        if self._model is None:
            from search_spaces.psigmoid.model import finetuned_classifier

            self._model = finetuned_classifier(self.task, self.settings.finetune_epochs, self.settings.finetune_lr)
            if EncoderDims.of(self._model.encoder.config) != self.dims:
                raise SpaceError(
                    f"psigmoid: the encoder is {EncoderDims.of(self._model.encoder.config)}, not MiniLM-L6 {self.dims}"
                )
        return self._model

    @property
    def val(self) -> TextSplit:
        from search_spaces.psigmoid.model import subset

        return subset(self.task.val, self.settings.val_size, self.settings.seed)

    @property
    def test(self) -> TextSplit:
        from search_spaces.psigmoid.model import subset

        return subset(self.task.test, self.settings.test_size, self.settings.seed)

    @property
    def unreduced_accuracy(self) -> float:
        """Validation accuracy of the fine-tuned model with every token kept."""
        if self._base is None:
            self._base = self.reduced_accuracy((self.length,) * self.dims.layers, self.val)
        return self._base

    def reduced_accuracy(self, counts: Sequence[int], split: TextSplit) -> float:
        """Accuracy on ``split`` with the schedule ``counts`` (checked first)."""
        from search_spaces.psigmoid.reduce import ReducedClassifier
        from search_spaces.tasks.textclf import accuracy
        from search_spaces.tasks.threads import torch_threads

        reduced = ReducedClassifier(self.model, self.check(counts), self.length, self.settings.keep_leading)
        with torch_threads(1):
            return accuracy(reduced, split)
