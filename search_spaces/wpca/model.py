"""A lightweight transformer encoder built from scratch, and its topic classifier.

An :class:`Arch` fixes the shape: ``layers`` blocks of hidden size ``hidden`` with ``heads``
attention heads, one FFN width per block, the FFN type (``mlp``: Linear-GELU-Linear;
``glu``: a SiLU-gated linear unit, ``silu(x W_g) * (x W_u)``, then the down projection) and
where LayerNorm sits (``post``: after each residual sum, as in BERT; ``pre``: before each
sub-layer, with a final norm). Every FFN's post-activation hidden state is the output of a
module named ``intermediate`` (as in Hugging Face's BERT), which is what W-PCA reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

VOCAB = 30522  # the MiniLM (BERT uncased) WordPiece vocabulary
FFN_TYPES = ("mlp", "glu")
NORMS = ("post", "pre")


@dataclass(frozen=True)
class Arch:
    layers: int
    hidden: int
    heads: int
    ffn: tuple[int, ...]  # one width per layer (len == layers)
    ffn_type: str = "mlp"
    norm: str = "post"

    def __post_init__(self) -> None:
        if len(self.ffn) != self.layers:
            raise ValueError(f"{len(self.ffn)} FFN widths for {self.layers} layers")
        if self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} is not divisible by heads={self.heads}")
        if self.ffn_type not in FFN_TYPES or self.norm not in NORMS:
            raise ValueError(f"ffn_type={self.ffn_type!r} / norm={self.norm!r}: use {FFN_TYPES} / {NORMS}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ffn"] = list(self.ffn)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Arch:
        return cls(**{**d, "ffn": tuple(d["ffn"])})


class Intermediate(nn.Module):
    """The first FFN projection and its activation: ``B x T x width``."""

    def __init__(self, hidden: int, width: int, kind: str) -> None:
        super().__init__()
        self.up = nn.Linear(hidden, width)
        self.gate = nn.Linear(hidden, width) if kind == "glu" else None
        self.act: nn.Module = nn.SiLU() if kind == "glu" else nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        if self.gate is None:
            return self.act(self.up(x))
        return self.act(self.gate(x)) * self.up(x)


class Block(nn.Module):
    def __init__(self, arch: Arch, width: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.pre = arch.heads, arch.norm == "pre"
        self.qkv = nn.Linear(arch.hidden, 3 * arch.hidden)
        self.out = nn.Linear(arch.hidden, arch.hidden)
        self.intermediate = Intermediate(arch.hidden, width, arch.ffn_type)
        self.down = nn.Linear(width, arch.hidden)
        self.norm1, self.norm2 = nn.LayerNorm(arch.hidden), nn.LayerNorm(arch.hidden)
        self.drop = nn.Dropout(dropout)

    def attention(self, x: Tensor, keep: Tensor) -> Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        return self.drop(self.out(y.transpose(1, 2).reshape(b, t, h)))

    def ffn(self, x: Tensor) -> Tensor:
        return self.drop(self.down(self.intermediate(x)))

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        if self.pre:
            x = x + self.attention(self.norm1(x), keep)
            return x + self.ffn(self.norm2(x))
        x = self.norm1(x + self.attention(x, keep))
        return self.norm2(x + self.ffn(x))


class Encoder(nn.Module):
    """Token + position embeddings, then the blocks: ``(ids, mask) -> B x T x hidden``."""

    def __init__(self, arch: Arch, max_length: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.arch = arch
        self.tokens = nn.Embedding(VOCAB, arch.hidden)
        self.positions = nn.Embedding(max_length, arch.hidden)
        self.norm = nn.LayerNorm(arch.hidden)
        self.drop = nn.Dropout(dropout)
        self.layer = nn.ModuleList(Block(arch, w, dropout) for w in arch.ffn)
        self.final = nn.LayerNorm(arch.hidden) if arch.norm == "pre" else nn.Identity()

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.norm(self.tokens(ids) + self.positions(pos)[None]))
        keep = mask.bool()
        for block in self.layer:
            x = block(x, keep)
        return self.final(x)


class Classifier(nn.Module):
    """The encoder, masked mean pooling and a linear head: ``(ids, mask) -> B x classes``."""

    def __init__(self, arch: Arch, classes: int, max_length: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = Encoder(arch, max_length, dropout)
        self.head = nn.Linear(arch.hidden, classes)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        h = self.encoder(ids, mask)
        m = mask[..., None].to(h.dtype)
        return self.head((h * m).sum(1) / m.sum(1).clamp_min(1.0))


def build(arch: Arch, classes: int, seed: int, max_length: int = 512) -> Classifier:
    """A randomly initialised classifier, the same weights for the same ``seed`` (default
    PyTorch initialisers, embeddings N(0, 0.02) as in BERT)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Classifier(arch, classes, max_length)
        for emb in (model.encoder.tokens, model.encoder.positions):
            nn.init.normal_(emb.weight, std=0.02)
    return model.eval()


def non_embedding_params(model: nn.Module) -> int:
    """Parameters outside ``nn.Embedding`` modules (the vocabulary table dwarfs a small model)."""
    emb = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in emb)
