"""Per-layer Hessian sensitivity of a task's model: traces, Ω table and costs, cached on disk
for built-in tasks (the traces depend only on the trained model and the estimator settings)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from proxies.flops import CostModel
from proxies.hessian import TraceEstimate, hutchinson_traces, layer_weights, top_eigenvalues
from proxies.quant import omega_table
from search_spaces.hawq.model import Task, cache_dir
from search_spaces.tasks.cache import write_atomic


@dataclass(frozen=True)
class HessianSettings:
    max_iter: int = 128  # Hutchinson probes (at most, rounded up to a whole pass)
    tol: float = 0.05  # relative standard error at which sampling stops
    batches: int = 4  # training batches the Hessian averages over
    seed: int = 0


@dataclass(frozen=True)
class Sensitivity:
    """Layers in order, their trace estimates and ``omega[i, k]`` at ``bit_choices[k]``."""

    layers: tuple[str, ...]
    bit_choices: tuple[int, ...]
    traces: dict[str, TraceEstimate]
    omega: np.ndarray  # L x K
    seconds: float  # time spent estimating the traces (0 when read from the cache)


def layer_traces(task: Task, layers: Sequence[str], hs: HessianSettings,
                 cache_key: str | None = None) -> tuple[dict[str, TraceEstimate], float]:
    """Hutchinson traces of ``layers`` over the first ``hs.batches`` training batches, read from
    or written to the cache when ``cache_key`` is given. Returns the traces and the seconds spent."""
    path = cache_dir() / f"{cache_key}-traces-{_settings_tag(hs)}.json" if cache_key else None
    if path is not None and path.exists():
        data = json.loads(path.read_text())
        if data.get("layers") == list(layers):
            return {n: TraceEstimate(**data["traces"][n]) for n in layers}, 0.0
    start = time.perf_counter()
    traces = hutchinson_traces(task.model, task.criterion, task.train[: hs.batches], layers,
                               max_iter=hs.max_iter, tol=hs.tol, seed=hs.seed)
    seconds = time.perf_counter() - start
    if path is not None:
        payload = {"layers": list(layers), "traces": {n: vars(t) for n, t in traces.items()}}
        text = json.dumps(payload)
        write_atomic(path, lambda tmp: tmp.write_text(text))
    return traces, seconds


def sensitivity(task: Task, layers: Sequence[str], bit_choices: Sequence[int], per_channel: bool,
                hs: HessianSettings, cache_key: str | None = None) -> Sensitivity:
    """Traces and the HAWQ-V2 Ω table of ``layers`` at every width in ``bit_choices``.

    A negative trace estimate (noise from few probes, or a saddle) counts as zero: Ω must
    not reward coarser quantization.
    """
    traces, seconds = layer_traces(task, layers, hs, cache_key)
    weights = layer_weights(task.model, layers)
    table = omega_table({n: max(traces[n].mean, 0.0) for n in layers}, weights, bit_choices,
                        per_channel)
    omega = np.array([[table[n][b] for b in bit_choices] for n in layers])
    return Sensitivity(tuple(layers), tuple(bit_choices), traces, omega, seconds)


def layer_eigenvalues(task: Task, layers: Sequence[str], hs: HessianSettings) -> dict[str, float]:
    """Top Hessian eigenvalue of each layer block (power iteration, first training batch)."""
    return top_eigenvalues(task.model, task.criterion, task.train[:1], layers, seed=hs.seed)


def cost_model(task: Task, layers: Sequence[str], act_bits: int) -> CostModel:
    """The cost model of the task's model, counted on one training example."""
    return CostModel.of(task.model, task.train[0][0][:1], layers, act_bits)


def _settings_tag(hs: HessianSettings) -> str:
    return f"it{hs.max_iter}-tol{hs.tol:g}-nb{hs.batches}-s{hs.seed}-torch{torch.__version__}"
