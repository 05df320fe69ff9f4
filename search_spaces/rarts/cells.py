"""The searchable network (mixed operations on every edge) and the network a genotype derives.

Macro structure for small inputs: a 3x3 stem with ``3C`` channels, then ``layers`` cells
with a reduction cell (stride 2, channels doubled) at each third of the depth, global
average pooling and a linear classifier. Cells read the outputs of the two previous cells;
the cell output concatenates its ``nodes`` intermediate nodes.

The architecture weights (``alpha_normal``, ``alpha_reduce``: ``edges x ops``) live in an
:class:`Alphas` module handed to the network, so two weight copies (RARTS) can share one
architecture. ``Alphas`` is never a submodule of a network: ``network.parameters()`` are the
weights only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces.rarts.genotype import Edge, Genotype, derive, num_edges
from search_spaces.rarts.ops import FactorizedReduce, conv, make_op, norm, relu_conv_bn


class Alphas(nn.Module):
    """Architecture parameters of the normal and the reduction cell (``edges x ops`` each)."""

    def __init__(
        self, nodes: int, primitives: Sequence[str], init_scale: float = 1e-3, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.primitives = tuple(primitives)
        self.nodes = nodes
        shape = (num_edges(nodes), len(primitives))
        self.normal = nn.Parameter(init_scale * torch.randn(shape, generator=generator))
        self.reduce = nn.Parameter(init_scale * torch.randn(shape, generator=generator))

    def weights(self, reduction: bool) -> Tensor:
        """Mixed-op weights: softmax over operations, one row per edge (rows sum to 1)."""
        return F.softmax(self.reduce if reduction else self.normal, dim=-1)

    def genotype(self) -> Genotype:
        with torch.no_grad():
            n, r = (self.weights(b).cpu().numpy().astype(np.float64) for b in (False, True))
        return derive(n, r, self.primitives)


class MixedOp(nn.Module):
    """Σ_k w_k · op_k(x) over every candidate operation."""

    def __init__(self, primitives: Sequence[str], channels: int, stride: int, dim: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(p, channels, stride, dim, affine=False) for p in primitives)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        return sum((w * op(x) for w, op in zip(weights, self.ops, strict=True)), torch.zeros(()))


class Cell(nn.Module):
    """One cell; ``edges`` lists, node by node, (input index, module) pairs."""

    def __init__(
        self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, nodes: int, dim: int, affine: bool
    ) -> None:
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        self.pre0 = (
            FactorizedReduce(c_pp, c, dim, affine) if reduction_prev else relu_conv_bn(c_pp, c, 1, 1, dim, affine)
        )
        self.pre1 = relu_conv_bn(c_p, c, 1, 1, dim, affine)

    def stride(self, index: int) -> int:
        return 2 if self.reduction and index < 2 else 1

    def states(self, s0: Tensor, s1: Tensor, node: Callable[[int, list[Tensor]], Tensor]) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for j in range(self.nodes):
            states.append(node(j, states))
        return torch.cat(states[2:], dim=1)


class SearchCell(Cell):
    def __init__(
        self,
        primitives: Sequence[str],
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        nodes: int,
        dim: int,
    ) -> None:
        super().__init__(c_pp, c_p, c, reduction, reduction_prev, nodes, dim, affine=False)
        self.mixed = nn.ModuleList(
            MixedOp(primitives, c, self.stride(i), dim) for j in range(nodes) for i in range(2 + j)
        )

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor) -> Tensor:
        def node(j: int, states: list[Tensor]) -> Tensor:
            first = num_edges(j)
            return sum(self.mixed[first + i](h, weights[first + i]) for i, h in enumerate(states))

        return self.states(s0, s1, node)


class DerivedCell(Cell):
    def __init__(
        self, edges: Sequence[Edge], c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, dim: int
    ) -> None:
        super().__init__(c_pp, c_p, c, reduction, reduction_prev, len(edges) // 2, dim, affine=True)
        self.inputs = [i for _, i in edges]
        self.ops = nn.ModuleList(make_op(op, c, self.stride(i), dim, affine=True) for op, i in edges)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        def node(j: int, states: list[Tensor]) -> Tensor:
            a, b = 2 * j, 2 * j + 1
            return self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]])

        return self.states(s0, s1, node)


def reduction_layers(layers: int) -> set[int]:
    """Indices of the reduction cells: at one and two thirds of the depth from 5 cells on (as
    DARTS's 8-cell network), else one in the middle (small inputs have little to reduce)."""
    return {layers // 3, 2 * layers // 3} if layers >= 5 else {layers // 2}


class _Net(nn.Module):
    def __init__(
        self,
        channels: int,
        layers: int,
        nodes: int,
        dim: int,
        classes: int,
        cell: Callable[[int, int, int, bool, bool], Cell],
    ) -> None:
        super().__init__()
        stem = 3 * channels
        self.stem = nn.Sequential(conv(dim)(1, stem, 3, padding=1, bias=False), norm(dim, stem, True))
        c_pp, c_p, c, prev_red = stem, stem, channels, False
        self.cells = nn.ModuleList()
        for k in range(layers):
            red = k in reduction_layers(layers)
            c = 2 * c if red else c
            self.cells.append(cell(c_pp, c_p, c, red, prev_red))
            c_pp, c_p, prev_red = c_p, nodes * c, red
        self.pool = nn.AdaptiveAvgPool1d(1) if dim == 1 else nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c_p, classes)

    def classify(self, s1: Tensor) -> Tensor:
        return self.head(self.pool(s1).flatten(1))


class SearchNetwork(_Net):
    """The supernet: every edge a :class:`MixedOp`, weighted by the shared ``alphas``."""

    def __init__(self, alphas: Alphas, channels: int, layers: int, dim: int, classes: int = 10) -> None:
        prims, nodes = alphas.primitives, alphas.nodes
        super().__init__(
            channels,
            layers,
            nodes,
            dim,
            classes,
            lambda cpp, cp, c, r, pr: SearchCell(prims, cpp, cp, c, r, pr, nodes, dim),
        )
        self._alphas = [alphas]  # a list: not registered, so parameters() are the weights only

    @property
    def alphas(self) -> Alphas:
        return self._alphas[0]

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        wn, wr = self.alphas.weights(False), self.alphas.weights(True)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classify(s1)


class DerivedNetwork(_Net):
    """The discrete network of a genotype, trained from scratch to evaluate it."""

    def __init__(self, genotype: Genotype, channels: int, layers: int, dim: int, classes: int = 10) -> None:
        g = genotype
        super().__init__(
            channels,
            layers,
            g.nodes,
            dim,
            classes,
            lambda cpp, cp, c, r, pr: DerivedCell(g.reduce if r else g.normal, cpp, cp, c, r, pr, dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classify(s1)
