"""The width-search form: how many channels each convolution of a plain CNN keeps.

Each of ``layers`` conv-norm-ReLU blocks has ``channels`` (or twice that after its stride-2
block) output channels and choices ``fractions`` of them. With choice probabilities
``p = softmax(alpha_l)``, block ``l`` multiplies its output channel ``c`` by the soft mask
``m_c = Σ_k p_k · [c < round(f_k · C_l)]``, the expected keep indicator of the choices
(channel-wise interpolation, as TAS and RARTS's width search use). Derivation keeps the most
probable width per block; the derived network is the plain CNN at those widths.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.rarts.ops import conv, norm


def block_channels(channels: int, layers: int) -> list[int]:
    """Full width of each block: doubled from the middle block on, which has stride 2."""
    return [channels * (2 if k >= layers // 2 else 1) for k in range(layers)]


def choice_widths(full: int, fractions: Sequence[float]) -> list[int]:
    return [max(1, round(f * full)) for f in fractions]


def soft_mask(probs: Tensor, widths: Sequence[int], full: int) -> Tensor:
    """``m_c = Σ_k p_k [c < widths_k]`` for c in 0..full-1 (shape ``full``)."""
    keep = (torch.arange(full)[None, :] < torch.tensor(list(widths))[:, None]).to(probs.dtype)
    return probs @ keep


class WidthAlphas(nn.Module):
    """One row of choice logits per block."""

    def __init__(
        self,
        layers: int,
        fractions: Sequence[float],
        init_scale: float = 1e-3,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.fractions = tuple(fractions)
        self.logits = nn.Parameter(init_scale * torch.randn((layers, len(fractions)), generator=generator))

    def probs(self) -> Tensor:
        return F.softmax(self.logits, dim=-1)

    def choice(self) -> list[int]:
        return [int(k) for k in self.probs().argmax(dim=-1).tolist()]


def _block(c_in: int, c_out: int, stride: int, dim: int) -> nn.Sequential:
    return nn.Sequential(
        conv(dim)(c_in, c_out, 3, stride=stride, padding=1, bias=False), norm(dim, c_out, True), nn.ReLU(inplace=False)
    )


class _Plain(nn.Module):
    def __init__(self, widths: Sequence[int], dim: int, classes: int = 10) -> None:
        super().__init__()
        c_in, blocks = 1, []
        for k, w in enumerate(widths):
            blocks.append(_block(c_in, w, 2 if k == len(widths) // 2 else 1, dim))
            c_in = w
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool1d(1) if dim == 1 else nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c_in, classes)

    def classify(self, x: Tensor) -> Tensor:
        return self.head(self.pool(x).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return self.classify(x)


class WidthSearchNetwork(_Plain):
    """Full-width blocks whose outputs are scaled by the soft masks of the shared alphas."""

    def __init__(self, alphas: WidthAlphas, channels: int, layers: int, dim: int, classes: int = 10) -> None:
        self.full = block_channels(channels, layers)
        super().__init__(self.full, dim, classes)
        self.dim = dim
        self._alphas = [alphas]  # not a submodule: parameters() are the weights only

    @property
    def alphas(self) -> WidthAlphas:
        return self._alphas[0]

    def expected_width(self) -> Tensor:
        """Σ_l E[width_l] / Σ_l C_l: the differentiable share of channels kept (0..1]."""
        probs, fr = self.alphas.probs(), self.alphas.fractions
        exp = [probs[k] @ torch.tensor(choice_widths(c, fr), dtype=probs.dtype) for k, c in enumerate(self.full)]
        return torch.stack(exp).sum() / sum(self.full)

    def forward(self, x: Tensor) -> Tensor:
        probs = self.alphas.probs()
        for k, (block, c) in enumerate(zip(self.blocks, self.full, strict=True)):
            mask = soft_mask(probs[k], choice_widths(c, self.alphas.fractions), c)
            x = block(x) * mask.view(1, -1, *([1] * self.dim))
        return self.classify(x)

    def derived_widths(self) -> list[int]:
        return [
            choice_widths(c, self.alphas.fractions)[k] for c, k in zip(self.full, self.alphas.choice(), strict=True)
        ]


class WidthNetwork(_Plain):
    """The derived plain CNN at the chosen widths."""
