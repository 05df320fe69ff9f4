"""The two sampling helpers of TAS: drawing two candidates with Gumbel-softmax weights, and
channel-wise interpolation (CWI) that aligns feature maps of different widths."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def sample_two(logits: Tensor, tau: float, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw two distinct candidates and their weights from 1-D ``logits`` at temperature ``tau``.

    Gumbel noise perturbs the log-probabilities; the perturbed softmax gives the sampling
    probabilities of two draws without replacement, and the weights are the softmax of the
    two chosen perturbed logits, so they sum to one and carry gradients to ``logits``.
    Returns ``(indices, weights)``, each of length ``min(2, k)``.
    """
    if tau <= 0:
        raise ValueError(f"temperature tau={tau!r} must be positive")
    u = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
    perturbed = (logits.log_softmax(0) - torch.log(-torch.log(u))) / tau
    n = min(2, logits.numel())
    with torch.no_grad():
        probs = perturbed.softmax(0) + 1e-8
        index = torch.multinomial(probs, n, replacement=False, generator=generator)
    return index, perturbed[index].softmax(0)


def cwi(x: Tensor, channels: int) -> Tensor:
    """Resize ``x`` (``B x C x ...``) to ``channels`` channels by linear interpolation along the
    channel axis (half-pixel centres, so ``C == channels`` gives ``x`` back)."""
    c = x.shape[1]
    flat = x.movedim(1, -1).reshape(-1, 1, c)
    out = F.interpolate(flat, size=channels, mode="linear", align_corners=False)
    return out.reshape(*x.movedim(1, -1).shape[:-1], channels).movedim(-1, 1)
