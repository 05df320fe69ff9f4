"""``nas sensitivity --space psigmoid --gsearch``: G-Search's per-layer token schedule as a table or JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table

from search_spaces import make_space
from search_spaces.psigmoid.analysis import GSearchReport, gsearch_report


def gsearch(options: dict[str, Any], tolerance: float) -> GSearchReport:
    """Build the ``psigmoid`` space from ``options`` and run G-Search on it."""
    return gsearch_report(make_space("psigmoid", options), tolerance)  # type: ignore[arg-type]


def report_json(report: GSearchReport) -> dict[str, Any]:
    d = asdict(report)
    d["trace"] = [{"counts": list(c), "accuracy": a} for c, a in report.trace]
    d["counts"] = list(report.counts)
    return d


def summary(report: GSearchReport) -> str:
    test = "-" if report.test_accuracy is None else f"{report.test_accuracy:.4f}"
    return (
        f"G-Search: fewest tokens per layer within {report.tolerance:g} of the unreduced validation accuracy "
        f"{report.unreduced_accuracy:.4f}: reached {report.accuracy:.4f} (test {test}) at "
        f"{report.flops_ratio:.1%} of the unreduced FLOPs ({report.flops:.4g}); "
        f"{report.evaluations} schedules measured"
    )


def render_gsearch(report: GSearchReport) -> Table:
    """One row per layer: tokens kept (of the sequence length) and the share kept."""
    t = Table(title="G-Search keep counts")
    for col in ("layer", "tokens kept", "share kept"):
        t.add_column(col, justify="right")
    for i, k in enumerate(report.counts):
        t.add_row(str(i), f"{k} / {report.length}", f"{k / report.length:.1%}")
    return t
