"""The ``wpca`` search space: lightweight transformer encoders ranked zero-shot.

A trial builds the encoder a configuration describes (see :mod:`search_spaces.wpca.arch`),
randomly initialised from the space's seed, with a 5-topic linear head; reads ``batches``
minibatches of real BBC News text (MiniLM token ids) and returns

* ``score`` (max): the option ``proxy`` (default ``wpca``: params × Σ_l k_l(η));
* ``params`` (min): every parameter of the model, embeddings included;
* ``latency_ms`` (min): measured CPU time of one forward pass per sequence (median of 3
  passes over one minibatch, one thread).

Metrics: the per-layer PCA counts ``k.<l>`` (for ``wpca``/``pca``), non-embedding
parameters, and the seconds the proxy took. No training happens.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from proxies.wpca import layer_counts, non_embedding_params
from proxies.zero_cost import Batch, score
from search_spaces.base import EvalContext, Evaluation, Objective, SearchSpace, SpaceError, register_space
from search_spaces.params import Param, ParamError
from search_spaces.tasks.text import TextTask, bbc_minilm
from search_spaces.tasks.threads import torch_threads
from search_spaces.wpca.arch import arch_of, space_params
from search_spaces.wpca.model import Arch, Classifier, build
from search_spaces.wpca.options import WpcaOptions, parse_options

CLASSES = 5  # BBC News topics


@dataclass(frozen=True)
class LayerReport:
    """One architecture's per-layer FFN widths and PCA counts."""

    arch: Arch
    widths: list[int]
    counts: list[int]
    eta: float
    non_embedding_params: int
    wpca: float


@register_space("wpca")
class WpcaSpace(SearchSpace):
    summary = "Lightweight transformer encoders scored zero-shot (W-PCA or a baseline proxy), params, CPU latency"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings: WpcaOptions = parse_options(self.options)
        self._task: TextTask | None = None

    @property
    def params(self) -> dict[str, Param]:
        return space_params(self.settings)

    @property
    def objectives(self) -> list[Objective]:
        return [
            Objective("score", "max", None, f"zero-shot proxy {self.settings.proxy!r} of the random-init model"),
            Objective("params", "min", None, "parameters, embeddings included"),
            Objective("latency_ms", "min", None, "measured CPU forward time per sequence, ms (1 thread)"),
        ]

    def evaluate(self, config: dict[str, Any], ctx: EvalContext) -> Evaluation:
        arch = self.arch(config)
        with torch_threads(1):
            model = self.model(arch)
            batches = self.batches()
            start = time.perf_counter()
            value, counts = self.proxy_value(model, batches)
            proxy_s = time.perf_counter() - start
            latency = self.latency_ms(model, batches[0])
        n = sum(p.numel() for p in model.parameters())
        metrics: dict[str, Any] = {"non_embedding_params": non_embedding_params(model), "proxy_s": proxy_s}
        metrics |= {f"k.{i}": k for i, k in enumerate(counts)}
        return Evaluation(
            {"score": value, "params": float(n), "latency_ms": latency}, metrics, {"arch": arch.to_json()}
        )

    # -- helpers the report, the tests and the benchmarks use --------------------------
    def arch(self, config: dict[str, Any]) -> Arch:
        try:
            return arch_of(config, self.settings)
        except (ParamError, ValueError) as e:
            raise SpaceError(f"wpca: bad configuration: {e}") from None

    def model(self, arch: Arch) -> Classifier:
        return build(arch, CLASSES, self.settings.seed, self.settings.max_length)

    @property
    def task(self) -> TextTask:
        if self._task is None:
            self._task = bbc_minilm(self.settings.max_length, self.settings.seed)
        return self._task

    def batches(self) -> list[Batch]:
        """``batches`` minibatches of training sequences, in a permutation fixed by the seed."""
        s, split = self.settings, self.task.train
        order = np.random.default_rng(s.seed).permutation(len(split))[: s.batches * s.batch_size]
        out = []
        for i in range(0, len(order), s.batch_size):
            sel = order[i : i + s.batch_size]
            ids, mask = torch.from_numpy(split.ids[sel]), torch.from_numpy(split.mask[sel])
            out.append(Batch((ids, mask), torch.from_numpy(split.labels[sel]), mask))
        return out

    def proxy_value(self, model: Classifier, batches: list[Batch]) -> tuple[float, list[int]]:
        """The proxy option's score, and the per-layer counts when it is a PCA proxy."""
        if self.settings.proxy not in ("wpca", "pca"):
            return score(self.settings.proxy, model, batches), []
        counts = list(layer_counts(model, batches, self.settings.eta).values())
        total = float(sum(counts))
        return (total * non_embedding_params(model) if self.settings.proxy == "wpca" else total), counts

    @staticmethod
    def latency_ms(model: Classifier, batch: Batch, repeats: int = 3) -> float:
        times = []
        with torch.no_grad():
            model(*batch.inputs)  # warm-up
            for _ in range(repeats):
                start = time.perf_counter()
                model(*batch.inputs)
                times.append(time.perf_counter() - start)
        return 1000.0 * statistics.median(times) / len(batch.labels)

    def layer_report(self, config: dict[str, Any] | None = None) -> LayerReport:
        """Per-layer FFN widths and k_l(η) of one architecture (default: :meth:`default_config`)."""
        arch = self.arch(config or self.default_config())
        with torch_threads(1):
            model = self.model(arch)
            counts = list(layer_counts(model, self.batches(), self.settings.eta).values())
        n = non_embedding_params(model)
        return LayerReport(arch, list(arch.ffn), counts, self.settings.eta, n, float(n * sum(counts)))

    def default_config(self) -> dict[str, Any]:
        """The deepest architecture with the middle hidden size and FFN width, most heads."""
        s = self.settings
        mid = s.hidden[len(s.hidden) // 2]
        out: dict[str, Any] = {"layers": s.max_layers, "hidden": mid, "heads": s.heads[-1]}
        out |= {f"ffn.{i}": s.ffn[len(s.ffn) // 2] for i in range(s.max_layers)}
        return out | {"ffn_type": s.ffn_types[0], "norm": s.norms[0]}
