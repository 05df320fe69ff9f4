"""Token reduction inside a BERT encoder, ranked by the attention each token receives.

:class:`ReducedEncoder` runs a ``transformers`` ``BertModel``'s own layers (its weights, its
projections, LayerNorms and FFN) with the attention written out, so that after each layer's
attention the tokens can be ranked and the least attended dropped before that layer's FFN:

1. score of token ``j`` = mean over heads and over the valid (non-padding) queries ``i`` of
   the attention probability ``P[h, i, j]`` (:func:`attention_received`);
2. the ``[CLS]`` token and the next ``keep_leading`` tokens score +inf (always kept),
   padding scores -inf (never kept, never counted);
3. each sequence keeps its ``keep_l`` best tokens, gathered in their original order
   (:func:`select_tokens`); the rest are gone for every deeper layer.

Keep counts are given for a sequence of the reference ``length``; a shorter sequence keeps
the same share of its real tokens (rounded up, at least the protected ones). When a layer
keeps every real token nothing is gathered, so keep ratio 1 everywhere is the plain encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

NEG = torch.finfo(torch.float32).min


def attention_received(probs: Tensor, mask: Tensor) -> Tensor:
    """``B x N`` mean attention each key token receives, over heads and valid queries.

    ``probs``: ``B x H x N x N`` (query rows sum to 1); ``mask``: ``B x N`` (1 = real token).
    Padding keys get -inf.
    """
    q = mask.to(probs.dtype)[:, None, :, None]
    total = (probs * q).sum(dim=(1, 2))
    denom = probs.shape[1] * mask.sum(1, keepdim=True).clamp(min=1).to(probs.dtype)
    return (total / denom).masked_fill(mask == 0, float("-inf"))


def select_tokens(scores: Tensor, mask: Tensor, keep: Tensor, protected: int) -> tuple[Tensor, Tensor]:
    """Indices (``B x K``, original order) of each row's ``keep[b]`` best tokens and their mask.

    The first ``protected`` positions are always chosen (when real); rows keep at most their
    real tokens. ``K`` is the largest count kept by any row; shorter rows are padded with
    masked slots.
    """
    n = scores.shape[1]
    pos = torch.arange(n, device=scores.device)
    s = scores.masked_fill((pos[None, :] < protected) & (mask > 0), float("inf"))
    kept = torch.minimum(keep, mask.sum(1))
    width = int(kept.max())
    top = s.topk(width, dim=1).indices
    valid = torch.arange(width, device=scores.device)[None, :] < kept[:, None]
    order = torch.where(valid, top, top + n).argsort(dim=1)
    return top.gather(1, order), valid.gather(1, order).to(mask.dtype)


def keep_per_row(count: int, length: int, real: Tensor, protected: int) -> Tensor:
    """Tokens each row keeps: ``count / length`` of its ``real`` tokens, rounded up, at least
    ``protected`` and at most ``real``."""
    want = torch.ceil(real.to(torch.float64) * (count / length) - 1e-6).to(real.dtype)
    return torch.minimum(want.clamp(min=protected), real)


class ReducedEncoder(nn.Module):
    """A ``BertModel`` whose layers keep ``counts[l]`` tokens after layer ``l``'s attention.

    ``forward(ids, mask, counts=None) -> (hidden B x K x D, mask B x K, positions B x K)``:
    positions are the original token indices of the kept slots (``[CLS]`` first).
    ``counts`` are for a sequence of ``length`` tokens (None: keep everything). After a
    forward, :attr:`kept` holds each layer's positions (for inspection and tests).
    """

    def __init__(self, bert: nn.Module, length: int, keep_leading: int = 0) -> None:
        super().__init__()
        self.bert = bert
        self.length = length
        self.protected = 1 + keep_leading
        self.kept: list[Tensor] = []

    def forward(self, ids: Tensor, mask: Tensor, counts: Sequence[int] | None = None) -> tuple[Tensor, Tensor, Tensor]:
        h = self.bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        real = mask.sum(1)
        self.kept = []
        for i, layer in enumerate(self.bert.encoder.layer):
            attn, probs = self_attention(layer, h, mask)
            if counts is not None:
                keep = keep_per_row(int(counts[i]), self.length, real, self.protected)
                if bool((keep < mask.sum(1)).any()):
                    idx, mask = select_tokens(attention_received(probs, mask), mask, keep, self.protected)
                    attn = attn.gather(1, idx[..., None].expand(-1, -1, attn.shape[-1]))
                    pos = pos.gather(1, idx)
            self.kept.append(torch.where(mask > 0, pos, -1))
            h = layer.output(layer.intermediate(attn), attn)
        return h, mask, pos


def self_attention(layer: nn.Module, h: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """A ``BertLayer``'s attention block written out: ``(output B x N x D, probs B x H x N x N)``."""
    sa = layer.attention.self
    b, n, _ = h.shape
    heads, size = sa.num_attention_heads, sa.attention_head_size

    def split(x: Tensor) -> Tensor:
        return x.view(b, n, heads, size).transpose(1, 2)

    q, k, v = split(sa.query(h)), split(sa.key(h)), split(sa.value(h))
    bias = (1.0 - mask[:, None, None, :].to(h.dtype)) * NEG
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size) + bias, dim=-1)
    ctx = (sa.dropout(probs) @ v).transpose(1, 2).reshape(b, n, heads * size)
    return layer.attention.output(ctx, h), probs


class ReducedClassifier(nn.Module):
    """An ``EncoderClassifier`` (``.encoder`` a ``BertModel``, ``.head``) run with token
    reduction: ``forward(ids, mask) -> logits`` under the fixed schedule ``counts``."""

    def __init__(self, classifier: nn.Module, counts: Sequence[int] | None, length: int, keep_leading: int = 0) -> None:
        super().__init__()
        self.classifier = classifier
        self.reducer = ReducedEncoder(classifier.encoder, length, keep_leading)
        self.counts = None if counts is None else tuple(int(c) for c in counts)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        h, _, _ = self.reducer(ids, mask, self.counts)
        return self.classifier.head(self.classifier.dropout(h[:, 0]))
