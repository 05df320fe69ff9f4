"""One AutoPEFT configuration and how it is inserted into a ``BertModel`` with ``adapters``.

A :class:`PeftChoice` holds a serial adapter bottleneck, a parallel adapter bottleneck and a
prefix length (0 turns a module off) and the layers that get them. It maps onto AdapterHub's
modules as one ``ConfigUnion``:

* serial: ``SeqBnConfig`` (Pfeiffer placement, after the feed-forward block);
* parallel: ``ParBnConfig`` beside the self-attention block (``mh_adapter=True``,
  ``output_adapter=False``): ``adapters`` refuses a serial and a parallel bottleneck at the
  same location, so the parallel one sits at attention, where it does not collide;
* prefix: ``PrefixTuningConfig(flat=True)``, trained prefixes without the reparametrising MLP,
  so the trained parameters are the ones that stay.

Layers outside ``layers`` are passed as ``leave_out``. :func:`parameter_count` is the
closed form of what :func:`insert` adds, used for the objective's reference point and
checked against the real modules by the tests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters import ConfigUnion
    from torch import nn

NAME = "autopeft"


@dataclass(frozen=True)
class PeftChoice:
    serial: int = 0
    parallel: int = 0
    prefix: int = 0
    layers: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing would be inserted (no layer, or every module off)."""
        return not self.layers or not (self.serial or self.parallel or self.prefix)

    def describe(self) -> str:
        return f"serial={self.serial} parallel={self.parallel} prefix={self.prefix} layers={list(self.layers)}"


def bottleneck_parameters(hidden: int, size: int) -> int:
    """A down (``hidden -> size``) and an up (``size -> hidden``) projection with biases."""
    return 2 * hidden * size + size + hidden if size else 0


def parameter_count(choice: PeftChoice, hidden: int) -> int:
    """Parameters :func:`insert` adds for ``choice`` to an encoder of width ``hidden``."""
    per_layer = (
        bottleneck_parameters(hidden, choice.serial)
        + bottleneck_parameters(hidden, choice.parallel)
        + 2 * choice.prefix * hidden
    )  # one key and one value vector per prefix token
    return 0 if choice.empty else per_layer * len(choice.layers)


def adapter_config(choice: PeftChoice, hidden: int, n_layers: int) -> ConfigUnion:
    """The ``adapters`` ``ConfigUnion`` of ``choice`` for an encoder ``hidden`` wide, ``n_layers`` deep."""
    from adapters import ConfigUnion, ParBnConfig, PrefixTuningConfig, SeqBnConfig

    if choice.empty:
        raise ValueError(f"nothing to insert: {choice.describe()}")
    skip = [i for i in range(n_layers) if i not in choice.layers]
    parts: list = []
    if choice.serial:
        parts.append(SeqBnConfig(reduction_factor=reduction_factor(hidden, choice.serial), leave_out=skip))
    if choice.parallel:
        parts.append(
            ParBnConfig(
                mh_adapter=True,
                output_adapter=False,
                reduction_factor=reduction_factor(hidden, choice.parallel),
                leave_out=skip,
            )
        )
    if choice.prefix:
        parts.append(PrefixTuningConfig(prefix_length=choice.prefix, flat=True, leave_out=skip))
    return ConfigUnion(*parts)


def reduction_factor(hidden: int, size: int) -> float:
    """The ``reduction_factor`` that makes ``adapters`` build a ``size``-wide bottleneck.

    ``adapters`` sizes it as ``int(hidden // factor)``; dividing by ``size + 0.5`` keeps that
    floor at exactly ``size`` whether or not ``size`` divides ``hidden``.
    """
    return hidden / (size + 0.5)


def insert(encoder: nn.Module, choice: PeftChoice) -> nn.Module:
    """Add ``choice``'s modules to ``encoder`` (a ``BertModel``), activate them and freeze the rest.

    Afterwards only the inserted modules have ``requires_grad``; returns ``encoder``.
    """
    cfg = encoder.config  # type: ignore[union-attr]
    return attach(encoder, adapter_config(choice, int(cfg.hidden_size), int(cfg.num_hidden_layers)))


def attach(encoder: nn.Module, config: Any) -> nn.Module:
    """Add any ``adapters`` configuration to ``encoder``, train only it (LoRA baselines use this too)."""
    import adapters

    adapters.init(encoder)
    encoder.add_adapter(NAME, config=config)  # type: ignore[operator]
    quiet = logging.getLogger("adapters.model_mixin")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # activation warns "none are activated" on its way to activating ours
    try:
        encoder.train_adapter(NAME)  # type: ignore[operator]  # freezes the pretrained weights, activates ours
    finally:
        quiet.setLevel(level)
    return encoder
