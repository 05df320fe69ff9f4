"""The HAWQ sensitivity report: per-layer Hessian table, exact bit suggestions and a picture.

``sensitivity_report(options)`` builds a ``hawq`` space from its options (``None`` for the
built-in digits CNN), estimates each layer's Hessian trace (± standard error) and top
eigenvalue, tabulates Ω at every allowed bit-width, computes the exact HAWQ-V2 Pareto
frontier of Ω against size, and solves the HAWQ-V3 ILP at each budget. With
``select="measured"`` (the default) each budget's suggestion is the most accurate, on the
validation split, of the ILP's near-optimal candidates (:mod:`search_spaces.hawq.allocate`);
with ``select="omega"`` it is the ILP's Ω optimum as HAWQ-V3 states it. Budgets are
fractions of the cost of the all-widest model: ``{"size_mb": 0.5}`` asks for half the
8-bit size; ``{"size_mb": 0.5, "bops": 0.3, "latency_us": 0.6}`` combines limits.
:func:`render_table` and :func:`render_suggestions` turn the report into ``rich`` tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from proxies.bitalloc import Allocation, InfeasibleBudget, ilp_allocate, pareto_frontier
from search_spaces import SpaceError, make_space
from search_spaces.hawq.allocate import checked_allocation, table_limits
from search_spaces.hawq.analysis import layer_eigenvalues
from search_spaces.hawq.space import HawqSpace
from search_spaces.tasks.threads import torch_threads

DEFAULT_BUDGETS: tuple[dict[str, float], ...] = (
    {"size_mb": 0.375}, {"size_mb": 0.5}, {"size_mb": 0.625}, {"size_mb": 0.75})
COSTS = ("size_mb", "bops", "latency_us")
SELECT = ("measured", "omega")


@dataclass(frozen=True)
class LayerRow:
    """One layer: counts, Hessian statistics and ``omega[bits]``."""

    name: str
    n_params: int
    macs: int
    trace: float
    trace_stderr: float
    n_probes: int
    top_eigenvalue: float | None
    omega: dict[int, float]


@dataclass(frozen=True)
class Suggestion:
    """The suggested assignment at one budget (``error`` says why there is none): the pick
    among the ILP's candidates checked on ``checked_on`` data, or the ILP's Ω optimum when
    nothing was measured (``checked_on`` None); ``ilp_bits``/``ilp_omega`` are that optimum."""

    budget: dict[str, float]  # fractions of the all-widest cost
    limits: dict[str, float]  # the same in absolute units (size in MB incl. fixed params)
    bits: dict[str, int] = field(default_factory=dict)
    config: dict[str, int] = field(default_factory=dict)  # space parameters: {"bits.<layer>": b}
    omega: float | None = None
    costs: dict[str, float] = field(default_factory=dict)  # size_mb, bops, latency_us
    accuracy: float | None = None  # held-out test accuracy
    error: str | None = None
    ilp_bits: dict[str, int] = field(default_factory=dict)
    ilp_omega: float | None = None
    checked_on: str | None = None  # "validation", "train" or None (Ω only)
    val_accuracy: float | None = None
    candidates: int = 0


@dataclass(frozen=True)
class SensitivityReport:
    options: dict[str, Any]
    bit_choices: tuple[int, ...]
    layers: list[LayerRow]
    suggestions: list[Suggestion]
    frontier: list[dict[str, Any]]  # HAWQ-V2 front: size_mb, omega, bits (ascending size)
    float_accuracy: float
    hessian_seconds: float
    png_path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bit-width keys become strings)."""
        d = asdict(self)
        d["png_path"] = str(self.png_path) if self.png_path else None
        for row in d["layers"]:
            row["omega"] = {str(b): v for b, v in row["omega"].items()}
        return d


def sensitivity_report(options: Mapping[str, Any] | None = None, *,
                       budgets: Sequence[Mapping[str, float]] = DEFAULT_BUDGETS,
                       ties: Sequence[Sequence[str]] = (), eigenvalues: bool = True,
                       evaluate: bool = True, png_path: str | Path | None = None,
                       space: HawqSpace | None = None, select: str = "measured") -> SensitivityReport:
    """Build the report for the ``hawq`` space with ``options`` (or an existing ``space``).

    ``ties`` groups layer names that must share a width; ``select`` is how each budget's
    suggestion is chosen (see the module doc); ``evaluate`` measures each suggestion's
    held-out accuracy; ``png_path`` writes the bar chart and frontier there. Raises
    :class:`SpaceError` for bad options, budget names, tied layer names or ``select``.
    """
    if select not in SELECT:
        raise SpaceError(f"select={select!r} is unknown; choose one of {list(SELECT)}")
    sp = space if space is not None else make_space("hawq", dict(options or {}))
    if not isinstance(sp, HawqSpace):
        raise SpaceError(f"sensitivity_report needs a hawq space, got {type(sp).__name__}")
    tie_idx = _tie_indices(sp, ties)
    sens = sp.sensitivity()
    eig = _eigenvalues(sp) if eigenvalues else {}
    tables = sp.costs.tables(sens.bit_choices)
    rows = [LayerRow(n, c.n_params, c.macs, sens.traces[n].mean, sens.traces[n].stderr,
                     sens.traces[n].n, eig.get(n), dict(zip(sens.bit_choices, map(float, sens.omega[i]),
                                                            strict=True)))
            for i, (n, c) in enumerate(zip(sp.layers, sp.costs.layers, strict=True))]
    suggestions = [_suggest(sp, dict(b), tables, tie_idx, evaluate, select) for b in budgets]
    front = pareto_frontier(sens.omega, tables["size_mb"], sens.bit_choices, tie_idx)
    report = SensitivityReport(dict(sp.options), sens.bit_choices, rows, suggestions,
                               [_front_point(sp, a) for a in front], sp.task.float_accuracy,
                               sens.seconds, Path(png_path) if png_path else None)
    if png_path:
        plot_report(report, Path(png_path))
    return report


def _eigenvalues(sp: HawqSpace) -> dict[str, float]:
    with torch_threads(sp.threads):
        return layer_eigenvalues(sp.task, sp.layers, sp.hessian_settings)


def _tie_indices(sp: HawqSpace, ties: Sequence[Sequence[str]]) -> list[list[int]]:
    idx = {n: i for i, n in enumerate(sp.layers)}
    unknown = sorted({n for g in ties for n in g} - set(idx))
    if unknown:
        raise SpaceError(f"ties name unknown layer(s) {unknown}; the layers are {list(sp.layers)}")
    return [[idx[n] for n in g] for g in ties]


def _absolute_limits(sp: HawqSpace, budget: dict[str, float]) -> dict[str, float]:
    """Fractions of the all-widest cost → absolute limits (size includes fixed params)."""
    bad = sorted(set(budget) - set(COSTS))
    if bad:
        raise SpaceError(f"budget {budget} names unknown cost(s) {bad}; use {list(COSTS)}")
    top = sp.costs.totals([max(sp.settings.bits)] * len(sp.layers))
    return {k: f * top[k] for k, f in budget.items()}


def _suggest(sp: HawqSpace, budget: dict[str, float], tables: dict[str, Any],
             ties: list[list[int]], evaluate: bool, select: str) -> Suggestion:
    limits = _absolute_limits(sp, budget)
    try:
        if select == "measured":
            choice = checked_allocation(sp, limits, ties)
            extra = {"ilp_bits": choice.ilp.bits, "ilp_omega": choice.ilp.omega, "checked_on": choice.checked_on,
                     "val_accuracy": choice.picked.accuracy, "candidates": len(choice.candidates)}
            bits, omega = choice.picked.bits, choice.picked.omega
        else:
            sens = sp.sensitivity()
            alloc = ilp_allocate(sens.omega, sens.bit_choices, tables, table_limits(sp, limits), ties)
            bits, omega = dict(zip(sp.layers, alloc.bits, strict=True)), alloc.omega
            extra = {"ilp_bits": bits, "ilp_omega": omega, "candidates": 1}
    except InfeasibleBudget as e:
        return Suggestion(budget, limits, error=str(e))
    acc = None
    if evaluate:
        with torch_threads(sp.threads):
            acc = sp.quantized_accuracy(bits)
    return Suggestion(budget, limits, bits, sp.config_of(bits), omega,
                      sp.costs.totals([bits[n] for n in sp.layers]), acc, **extra)


def _front_point(sp: HawqSpace, a: Allocation) -> dict[str, Any]:
    return {"size_mb": a.costs["size"] + sp.costs.fixed_bytes / 1e6, "omega": a.omega,
            "bits": dict(zip(sp.layers, a.bits, strict=True))}


def render_table(report: SensitivityReport) -> Table:
    """Per-layer table: params, MACs, Tr(H) ± s.e., Tr(H)/n, λ_max and Ω at each width."""
    t = Table(title=f"Hessian sensitivity (float accuracy {report.float_accuracy:.4f})")
    for col in ("layer", "params", "MACs", "Tr(H) ± s.e.", "Tr(H)/n", "λ_max"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for b in report.bit_choices:
        t.add_column(f"Ω@{b}b", justify="right")
    for r in report.layers:
        eig = "—" if r.top_eigenvalue is None else f"{r.top_eigenvalue:.4g}"
        t.add_row(r.name, f"{r.n_params:,}", f"{r.macs:,}", f"{r.trace:.4g} ± {r.trace_stderr:.2g}",
                  f"{r.trace / r.n_params:.3g}", eig, *(f"{r.omega[b]:.3g}" for b in report.bit_choices))
    return t


def render_suggestions(report: SensitivityReport) -> Table:
    """The ILP's suggestion at each budget: bits per layer, Ω, costs and accuracy."""
    measured = next((s.checked_on for s in report.suggestions if s.checked_on), None)
    how = (f"the most accurate on {measured} data of the ILP's near-optimal candidates" if measured
           else "the ILP's Ω optimum")
    t = Table(title=f"HAWQ-V3 ILP suggestions (budgets as fractions of the widest model; {how})")
    cols = ["budget", "bits per layer", "Ω", "size MB", "BOPs", "latency µs", "test acc"]
    if measured:
        cols[2:2] = ["Ω-optimal bits", "candidates", "val acc"]
    for col in cols:
        t.add_column(col, justify="left" if "bits" in col or col == "budget" else "right")
    for s in report.suggestions:
        budget = ", ".join(f"{k} ≤ {v:.0%}" for k, v in s.budget.items())
        if s.error:
            t.add_row(budget, f"[red]{s.error}[/red]", *[""] * (len(cols) - 2))
            continue
        acc = "—" if s.accuracy is None else f"{s.accuracy:.4f}"
        checked = []
        if measured:
            same = "same" if s.ilp_bits == s.bits else " ".join(str(b) for b in s.ilp_bits.values())
            checked = [same, str(s.candidates), f"{s.val_accuracy:.4f}"]
        t.add_row(budget, " ".join(str(b) for b in s.bits.values()), *checked, f"{s.omega:.3g}",
                  f"{s.costs['size_mb']:.4f}", f"{s.costs['bops']:.3g}", f"{s.costs['latency_us']:.3g}", acc)
    return t


def plot_report(report: SensitivityReport, path: Path) -> Path:
    """Write the PNG. Left: per-layer average trace Tr(H)/n with ±2 s.e. bars (log scale).
    Right: the HAWQ-V2 frontier of Ω against size with the ILP suggestions marked."""
    import matplotlib  # imported here so the CLI stays light when no picture is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    names = [r.name for r in report.layers]
    ax1.bar(names, [r.trace / r.n_params for r in report.layers], capsize=3, color="tab:blue",
            yerr=[2 * r.trace_stderr / r.n_params for r in report.layers])
    ax1.set(yscale="log", ylabel="average Hessian trace Tr(H)/n", title="Per-layer sensitivity (±2 s.e.)")
    ax1.tick_params(axis="x", rotation=45)
    ax2.step([p["size_mb"] for p in report.frontier], [p["omega"] for p in report.frontier],
             where="post", color="tab:gray", label="Pareto frontier (exact)")
    ok = [s for s in report.suggestions if s.error is None]
    ax2.scatter([s.costs["size_mb"] for s in ok], [s.omega for s in ok], color="tab:red", zorder=3,
                label="ILP suggestions")
    ax2.set(yscale="log", xlabel="model size (MB)", ylabel="Σ Ω", title="Ω against size")
    ax2.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
