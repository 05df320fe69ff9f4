"""Genotypes as plain, torch-free data, and their derivation from architecture weights.

A cell with ``n`` intermediate nodes has ``2 + 3 + ... + (n + 1)`` edges: node ``j`` reads
the two cell inputs and every earlier node. Derivation keeps, for each node, the two
incoming edges whose strongest operation other than ``none`` has the largest weight, and on
each kept edge that operation (DARTS, Liu et al. 2019, section 2.4).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

Edge = tuple[str, int]  # (operation, input state index: 0, 1 = cell inputs, 2.. = nodes)


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Edge, ...]  # two edges per node, node by node
    reduce: tuple[Edge, ...]

    @property
    def nodes(self) -> int:
        return len(self.normal) // 2

    def to_json(self) -> dict[str, list[list[str | int]]]:
        return {k: [list(e) for e in v] for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict[str, Sequence[Sequence[str | int]]]) -> Genotype:
        return cls(*(tuple((str(op), int(i)) for op, i in d[k]) for k in ("normal", "reduce")))

    def __str__(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


def num_edges(nodes: int) -> int:
    """Edges of a cell with ``nodes`` intermediate nodes: Σ_{j<nodes} (2 + j)."""
    return sum(2 + j for j in range(nodes))


def derive_cell(weights: np.ndarray, primitives: Sequence[str], keep: int = 2) -> tuple[Edge, ...]:
    """The discrete cell of mixed-op ``weights`` (``edges x ops``, rows summing to 1).

    For each node: rank its incoming edges by their largest weight on an operation other
    than ``none``; keep the top ``keep``; on each, that strongest non-``none`` operation.
    """
    w = np.asarray(weights, dtype=float)
    real = [k for k, p in enumerate(primitives) if p != "none"]
    cell: list[Edge] = []
    start, n_in = 0, 2
    while start < len(w):
        rows = w[start : start + n_in][:, real]
        best = np.argsort(-rows.max(axis=1), kind="stable")[:keep]
        for i in sorted(best.tolist()):
            cell.append((primitives[real[int(rows[i].argmax())]], i))
        start, n_in = start + n_in, n_in + 1
    return tuple(cell)


def derive(normal: np.ndarray, reduce: np.ndarray, primitives: Sequence[str]) -> Genotype:
    return Genotype(derive_cell(normal, primitives), derive_cell(reduce, primitives))


def random_genotype(nodes: int, primitives: Sequence[str], rng: np.random.Generator) -> Genotype:
    """A cell drawn uniformly from the same space: per node two distinct inputs, real ops."""
    real = [p for p in primitives if p != "none"]

    def cell() -> tuple[Edge, ...]:
        out: list[Edge] = []
        for j in range(nodes):
            for i in sorted(rng.choice(2 + j, size=2, replace=False).tolist()):
                out.append((real[int(rng.integers(len(real)))], int(i)))
        return tuple(out)

    return Genotype(cell(), cell())
