"""Per-layer token budgets: the encoder's FLOPs model, the P-Sigmoid curve and budget fitting.

Pure functions, no torch. A *schedule* is a tuple of keep counts ``k_0 >= k_1 >= ... >=
k_{n-1}`` for a sequence of ``length`` tokens: after the attention of layer ``l`` only
``k_l`` tokens are kept, so layer ``l``'s FFN and everything deeper see ``k_l`` tokens.

FLOPs model (multiply-adds count 2), hidden size ``d``, FFN width ``f``, ``n_l`` the tokens
entering layer ``l`` (``n_0 = length``, ``n_l = k_{l-1}``)::

    attention_l = 2 * (4 * n_l * d^2          # Q, K, V and output projections
                       + 2 * n_l^2 * d)       # scores Q K^T and the weighted sum P V
    ffn_l       = 2 * (2 * k_l * d * f)       # the two FFN matrices on the kept tokens
    encoder     = sum_l attention_l + ffn_l

Softmax, LayerNorm, GELU, biases and the embedding lookup are not counted (they are what
``torch.utils.flop_counter`` leaves out too; a test checks the two agree).

P-Sigmoid (our parametrisation of the paper's parametric sigmoid): with ``x_l = l / (n-1)``,
steepness ``k > 0``, midpoint ``c`` and floor ``phi`` in [0, 1]::

    g(l) = phi + (1 - phi) * sigmoid(k * (c - x_l))      # non-increasing in l
    r(l) = min(1, s * g(l))                              # keep ratio of layer l

The scale ``s`` is not a parameter: :func:`fit_budget` solves for it so that the encoder's
FLOPs meet the budget (a fraction of the unreduced FLOPs), then places the last few tokens
one layer at a time so the achieved FLOPs are the nearest reachable to the budget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Schedule = tuple[int, ...]
Family = Callable[[float], np.ndarray]  # t -> keep ratios per layer, non-decreasing in t


class BudgetError(ValueError):
    """A FLOPs budget or a schedule that cannot be met or is malformed."""


@dataclass(frozen=True)
class EncoderDims:
    """What the FLOPs model needs of a BERT-like encoder."""

    layers: int
    hidden: int
    ffn: int

    @classmethod
    def of(cls, config: object) -> EncoderDims:
        """From a ``transformers`` ``BertConfig``."""
        c = config
        return cls(int(c.num_hidden_layers), int(c.hidden_size), int(c.intermediate_size))  # type: ignore[attr-defined]


def layer_flops(dims: EncoderDims, n_in: int, n_out: int) -> int:
    """FLOPs of one layer that attends over ``n_in`` tokens and keeps ``n_out`` for its FFN."""
    d, f = dims.hidden, dims.ffn
    return 2 * (4 * n_in * d * d + 2 * n_in * n_in * d) + 2 * (2 * n_out * d * f)


def encoder_flops(counts: Sequence[int], length: int, dims: EncoderDims) -> int:
    """FLOPs of the encoder on one sequence of ``length`` tokens under the schedule ``counts``."""
    total, n_in = 0, length
    for k in counts:
        total += layer_flops(dims, n_in, int(k))
        n_in = int(k)
    return total


def full_flops(length: int, dims: EncoderDims) -> int:
    """FLOPs of the unreduced encoder."""
    return encoder_flops([length] * dims.layers, length, dims)


def min_budget(length: int, dims: EncoderDims, min_keep: int) -> float:
    """The smallest reachable budget: every layer keeps only the ``min_keep`` protected tokens."""
    return encoder_flops([min_keep] * dims.layers, length, dims) / full_flops(length, dims)


def check_schedule(counts: Sequence[int], length: int, min_keep: int, layers: int) -> Schedule:
    """``counts`` as a schedule, or :class:`BudgetError` naming what is wrong."""
    out = tuple(int(k) for k in counts)
    if len(out) != layers:
        raise BudgetError(f"schedule {list(out)} has {len(out)} counts; the encoder has {layers} layers")
    if any(k < 1 for k in out):
        raise BudgetError(
            f"schedule {list(out)} keeps fewer than 1 token somewhere: that would drop [CLS]; "
            f"every count must be at least {min_keep} (the [CLS] and leading tokens)"
        )
    if any(k < min_keep or k > length for k in out):
        raise BudgetError(
            f"schedule {list(out)}: every count must be from {min_keep} (the [CLS] and leading "
            f"tokens) to {length} (the sequence length)"
        )
    if any(b > a for a, b in itertools.pairwise(out)):
        raise BudgetError(f"schedule {list(out)} increases with depth: dropped tokens cannot come back")
    return out


def psigmoid_shape(steepness: float, midpoint: float, floor: float, layers: int) -> np.ndarray:
    """``g(l)`` of the module doc: 1 at shallow layers falling to ``floor`` past ``midpoint``."""
    x = np.arange(layers) / max(layers - 1, 1)
    z = np.clip(steepness * (midpoint - x), -60.0, 60.0)
    return floor + (1.0 - floor) / (1.0 + np.exp(-z))


def scaled(shape: np.ndarray) -> Family:
    """The family ``t -> min(1, t * shape)`` (P-Sigmoid, G-Search rescaled)."""
    return lambda t: np.minimum(1.0, t * np.asarray(shape, dtype=float))


def uniform_family(layers: int) -> Family:
    """Every layer keeps the same share ``t`` of the tokens it receives: ``r(l) = t^(l+1)``."""
    return lambda t: np.minimum(1.0, t) ** (np.arange(layers) + 1.0)


def linear_family(layers: int) -> Family:
    """Keep ratio falling linearly with depth: ``r(l) = clip(1 - (l+1) / t, 0, 1)``."""
    return lambda t: np.clip(1.0 - (np.arange(layers) + 1.0) / max(t, 1e-9), 0.0, 1.0)


def counts_of(ratios: np.ndarray, length: int, min_keep: int) -> Schedule:
    """Keep ratios -> non-increasing counts (floored, at least ``min_keep``, at most ``length``)."""
    raw = np.floor(np.asarray(ratios, dtype=float) * length + 1e-9).astype(int)
    raw = np.minimum.accumulate(np.clip(raw, min_keep, length))
    return tuple(int(k) for k in raw)


def fit_budget(
    family: Family, t_range: tuple[float, float], budget: float, length: int, dims: EncoderDims, min_keep: int
) -> Schedule:
    """The schedule of ``family`` whose FLOPs are nearest ``budget`` x the unreduced FLOPs.

    Bisects ``t`` for the largest schedule within the budget, adds single tokens layer by
    layer (shallow first, never increasing with depth) while they fit, then takes one more
    token where that lands nearer the budget. Raises :class:`BudgetError` when ``budget`` is
    outside (0, 1] or below what the protected tokens alone cost.
    """
    floor = min_budget(length, dims, min_keep)
    if not 0 < budget <= 1:
        raise BudgetError(f"budget={budget!r} must be a fraction of the unreduced FLOPs in (0, 1]")
    if budget < floor:
        raise BudgetError(
            f"budget={budget:g} is below {floor:.4f}, the FLOPs of keeping only the "
            f"{min_keep} protected token(s) after the first layer; raise the budget"
        )
    target = budget * full_flops(length, dims)
    cost = lambda c: encoder_flops(c, length, dims)  # noqa: E731
    lo, hi = t_range
    if not 0 < lo < hi:
        raise BudgetError(f"t_range={t_range}: need 0 < low < high (bisection is geometric)")
    if cost(counts_of(family(lo), length, min_keep)) > target:
        raise BudgetError(f"budget={budget:g}: the schedule family cannot go that low in t >= {lo}")
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if cost(counts_of(family(mid), length, min_keep)) <= target else (lo, mid)
    counts = list(counts_of(family(lo), length, min_keep))
    for i in range(len(counts)):
        step = _with_one_more(counts, i, length)
        if step is not None and cost(step) <= target:
            counts = step
    above = [s for i in range(len(counts)) if (s := _with_one_more(counts, i, length)) is not None]
    best = min(above, key=cost, default=None)
    if best is not None and cost(best) - target < target - cost(counts):
        counts = best
    return tuple(counts)


def _with_one_more(counts: list[int], i: int, length: int) -> list[int] | None:
    """``counts`` with one more token at layer ``i``, or None when that would exceed the
    layer above (or the length)."""
    cap = length if i == 0 else counts[i - 1]
    if counts[i] + 1 > cap:
        return None
    out = list(counts)
    out[i] += 1
    return out
