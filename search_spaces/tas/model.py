"""The residual CNN of TAS: a plain network of given widths (the teacher, the pruned and the
uniformly scaled networks), the searchable network over it, and L1 filter pruning.

Layout and what each width means: :mod:`search_spaces.tas.arch`. 1-D inputs (``mnist1d``)
use ``Conv1d``/``BatchNorm1d``, 2-D inputs (``digits``) ``Conv2d``/``BatchNorm2d``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from search_spaces.tas.arch import KERNEL, Arch, Candidates, Distributions, Geometry, argmax_arch, full_arch
from search_spaces.tas.select import cwi, sample_two


def _conv(g: Geometry, cin: int, cout: int, k: int, stride: int) -> nn.Module:
    cls = nn.Conv1d if g.dims == 1 else nn.Conv2d
    return cls(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def _bn(g: Geometry, c: int) -> nn.Module:
    return (nn.BatchNorm1d if g.dims == 1 else nn.BatchNorm2d)(c)


class Block(nn.Module):
    """``relu(bn(conv_b(relu(bn(conv_a(x))))) + shortcut(x))``; the shortcut projects when asked."""

    def __init__(self, g: Geometry, cin: int, inner: int, out: int, stride: int, project: bool) -> None:
        super().__init__()
        self.conv_a, self.bn_a = _conv(g, cin, inner, KERNEL, stride), _bn(g, inner)
        self.conv_b, self.bn_b = _conv(g, inner, out, KERNEL, 1), _bn(g, out)
        self.proj = nn.Sequential(_conv(g, cin, out, 1, stride), _bn(g, out)) if project else None

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn_a(self.conv_a(x)))
        shortcut = x if self.proj is None else self.proj(x)
        return F.relu(self.bn_b(self.conv_b(h)) + shortcut)


class ResNet(nn.Module):
    """The network of ``arch`` on ``g``'s input: ``B x C x L`` or ``B x C x H x W`` → ``B x classes``."""

    def __init__(self, arch: Arch, g: Geometry) -> None:
        super().__init__()
        self.arch, self.geometry = arch, g
        self.stem, self.stem_bn = _conv(g, g.in_channels, arch.stem, KERNEL, 1), _bn(g, arch.stem)
        stages, cin = [], arch.stem
        for s, inner in enumerate(arch.inner):
            o = arch.widths[s]
            stages.append(
                nn.ModuleList(
                    Block(g, cin if j == 0 else o, a, o, g.strides[s] if j == 0 else 1, j == 0)
                    for j, a in enumerate(inner)
                )
            )
            cin = o
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(cin, g.classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.stem_bn(self.stem(x)))
        for stage in self.stages:
            for block in stage:
                x = block(x)
        return self.head(x.flatten(2).mean(2))


def _norm(bn: nn.Module, x: Tensor, c: int) -> Tensor:
    """Batch-normalise the first ``c`` channels with the first ``c`` affine parameters."""
    return F.batch_norm(x[:, :c], None, None, bn.weight[:c], bn.bias[:c], True, 0.0, bn.eps)


Sample = tuple[Tensor, Tensor]  # (indices, weights) of the two drawn candidates


def _mix(y: Tensor, bn: nn.Module, choices: Sequence[int], sample: Sample, relu: bool) -> Tensor:
    """``Σ_i w_i · CWI(bn(y[:, :c_i]), C)``: the drawn widths of a layer, aligned and weighted."""
    full = y.shape[1]
    out = y.new_zeros(())
    for i, w in zip(sample[0].tolist(), sample[1], strict=True):
        h = _norm(bn, y, choices[i])
        out = out + w * cwi(F.relu(h) if relu else h, full)
    return out


class SearchNet(nn.Module):
    """The unpruned network with learnable width and depth logits (the architecture
    parameters, apart from the weights in :attr:`net`)."""

    def __init__(self, g: Geometry, candidates: Candidates) -> None:
        super().__init__()
        self.geometry, self.candidates = g, candidates
        self.net = ResNet(full_arch(g), g)
        self.stem_logits = nn.Parameter(torch.zeros(len(candidates.stem)))
        self.width_logits = nn.ParameterList(torch.zeros(len(c)) for c in candidates.widths)
        self.inner_logits = nn.ParameterList(torch.zeros(len(c)) for st in candidates.inner for c in st)
        self.depth_logits = nn.ParameterList(torch.zeros(g.blocks) for _ in g.widths)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.stem_logits, *self.width_logits, *self.inner_logits, *self.depth_logits]

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def _inner(self, s: int, j: int) -> nn.Parameter:
        return self.inner_logits[s * self.geometry.blocks + j]

    def distributions(self) -> Distributions:
        """Softmax of every logit vector (no noise): what the expected cost and argmax use."""
        b = self.geometry.blocks
        return Distributions(
            self.stem_logits.softmax(0),
            tuple(p.softmax(0) for p in self.width_logits),
            tuple(tuple(self._inner(s, j).softmax(0) for j in range(b)) for s in range(self.geometry.stages)),
            tuple(p.softmax(0) for p in self.depth_logits),
        )

    def derived(self) -> Arch:
        """The most likely network under the current logits."""
        with torch.no_grad():
            return argmax_arch(self.distributions(), self.candidates)

    def forward(self, x: Tensor, tau: float, generator: torch.Generator | None = None) -> Tensor:
        """One forward pass with two widths drawn per layer and two depths per stage."""
        c, n = self.candidates, self.net
        x = _mix(n.stem(x), n.stem_bn, c.stem, sample_two(self.stem_logits, tau, generator), True)
        for s, stage in enumerate(n.stages):
            width = sample_two(self.width_logits[s], tau, generator)
            depth = sample_two(self.depth_logits[s], tau, generator)
            outs = []
            for j in range(int(depth[0].max()) + 1):
                block = stage[j]
                inner = sample_two(self._inner(s, j), tau, generator)
                h = _mix(block.conv_a(x), block.bn_a, c.inner[s][j], inner, True)
                y = _mix(block.conv_b(h), block.bn_b, c.widths[s], width, False)
                shortcut = x if block.proj is None else _mix(block.proj[0](x), block.proj[1], c.widths[s], width, False)
                x = F.relu(y + shortcut)
                outs.append(x)
            x = sum(w * outs[i] for i, w in zip(depth[0].tolist(), depth[1], strict=True))
        return n.head(x.flatten(2).mean(2))


def _top(scores: Tensor, k: int) -> Tensor:
    return scores.topk(k).indices.sort().values


def _l1(conv: nn.Module) -> Tensor:
    return conv.weight.detach().abs().flatten(1).sum(1)


def _copy_conv(dst: nn.Module, src: nn.Module, out_keep: Tensor, in_keep: Tensor) -> None:
    dst.weight.copy_(src.weight[out_keep][:, in_keep])


def _copy_bn(dst: nn.Module, src: nn.Module, keep: Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(getattr(src, name)[keep])


def l1_pruned(teacher: ResNet, arch: Arch) -> ResNet:
    """``arch`` with the unpruned network's weights of the filters of largest L1 norm.

    A stage's channels are kept by the summed norms of every conv writing to them (each
    kept block's ``conv_b`` and the projection); a stage keeps its first ``depth`` blocks."""
    g, out = teacher.geometry, ResNet(arch, teacher.geometry)
    with torch.no_grad():
        keep_in = torch.arange(g.in_channels)
        keep = _top(_l1(teacher.stem), arch.stem)
        _copy_conv(out.stem, teacher.stem, keep, keep_in)
        _copy_bn(out.stem_bn, teacher.stem_bn, keep)
        for s, inner in enumerate(arch.inner):
            blocks = list(teacher.stages[s])[: len(inner)]
            score = sum(_l1(b.conv_b) for b in blocks) + _l1(blocks[0].proj[0])
            stage_keep = _top(score, arch.widths[s])
            for j, (src, dst) in enumerate(zip(blocks, out.stages[s], strict=True)):
                cin = keep if j == 0 else stage_keep
                mid = _top(_l1(src.conv_a), inner[j])
                _copy_conv(dst.conv_a, src.conv_a, mid, cin)
                _copy_bn(dst.bn_a, src.bn_a, mid)
                _copy_conv(dst.conv_b, src.conv_b, stage_keep, mid)
                _copy_bn(dst.bn_b, src.bn_b, stage_keep)
                if j == 0:
                    _copy_conv(dst.proj[0], src.proj[0], stage_keep, cin)
                    _copy_bn(dst.proj[1], src.proj[1], stage_keep)
            keep = stage_keep
        out.head.weight.copy_(teacher.head.weight[:, keep])
        out.head.bias.copy_(teacher.head.bias)
    return out
