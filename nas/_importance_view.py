"""Terminal table and bar chart of an importance report (``nas importance``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from nas.importance import Interval, ObjectiveImportance


def _iv(i: Interval) -> str:
    return f"{i.value:.3f} [{i.low:.3f}, {i.high:.3f}]"


def render_table(r: ObjectiveImportance) -> Table:
    level = round(100 * float(r.settings.get("conf", 0.95)))
    title = f"{r.objective}: {r.method} indices from {r.n_trials} trials ({level}% intervals)"
    t = Table(title=title)
    for col in ("parameter", "S1 (first order)", "ST (total)", "ST - S1 (interactions)"):
        t.add_column(col, justify="left" if col == "parameter" else "right")
    for p in sorted(r.params, key=lambda p: -p.st.value):
        t.add_row(p.name, _iv(p.s1), _iv(p.st), _iv(p.interaction))
    top = r.top_interactions()
    t.caption = "top interactions: " + (
        ", ".join(f"{p.name} ({p.interaction.value:.2f})" for p in top) if top else "none (every ST - S1 < 0.05)"
    )
    return t


def plot(reports: Sequence[ObjectiveImportance], path: str | Path) -> Path:
    """One panel per objective: S1 and ST bars per parameter with their intervals."""
    import matplotlib  # imported here so the CLI stays light when no picture is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    d = len(reports[0].params)
    fig, axes = plt.subplots(len(reports), 1, figsize=(max(6.0, 0.7 * d + 2), 3.2 * len(reports)), squeeze=False)
    for ax, r in zip(axes[:, 0], reports, strict=True):
        x = np.arange(len(r.params))
        for k, (label, get, color) in enumerate(
            (("S1", lambda p: p.s1, "tab:blue"), ("ST", lambda p: p.st, "tab:orange"))
        ):
            iv = [get(p) for p in r.params]
            err = np.array([[i.value - i.low for i in iv], [i.high - i.value for i in iv]])
            ax.bar(x + (k - 0.5) * 0.38, [i.value for i in iv], 0.38, yerr=err, capsize=3, color=color, label=label)
        ax.set_xticks(x, [p.name for p in r.params], rotation=30, ha="right")
        ax.set(ylim=(0, 1.05), ylabel="Sobol index", title=f"{r.objective} ({r.method}, {r.n_trials} trials)")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
