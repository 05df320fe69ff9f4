"""The W-PCA sensitivity report: per-layer FFN widths and PCA counts k_l(η) of one architecture.

``wpca_report(items)`` splits ``--option`` items into the ``wpca`` space's options and the
architecture (a single value for a space parameter: ``layers``, ``hidden``, ``heads``,
``ffn.<i>``, ``ffn_type``, ``norm``; a list, such as ``hidden=[64,128]``, is the option of
the same name; missing ones come from :meth:`WpcaSpace.default_config`), scores the
random-init model and returns a JSON-ready dict; :func:`render` makes the table and
:func:`plot` the bar chart (width and k per layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from search_spaces.wpca.space import WpcaSpace


def wpca_report(items: dict[str, Any], png_path: str | Path | None = None) -> dict[str, Any]:
    arch = {k: v for k, v in items.items() if _is_param(k) and not isinstance(v, list | tuple)}
    space = WpcaSpace({k: v for k, v in items.items() if k not in arch})
    config = {**space.default_config(), **arch}
    r = space.layer_report(config)
    out = {
        "arch": r.arch.to_json(),
        "eta": r.eta,
        "non_embedding_params": r.non_embedding_params,
        "wpca": r.wpca,
        "pca": sum(r.counts),
        "layers": [
            {"layer": i, "ffn_width": w, "k": k, "k_share": k / w}
            for i, (w, k) in enumerate(zip(r.widths, r.counts, strict=True))
        ],
        "png_path": str(png_path) if png_path else None,
    }
    if png_path:
        plot(out, Path(png_path))
    return out


def _is_param(key: str) -> bool:
    return key in ("layers", "hidden", "heads", "ffn_type", "norm") or key.startswith("ffn.")


def render(report: dict[str, Any]) -> Table:
    a = report["arch"]
    t = Table(
        title=f"W-PCA of {a['layers']} layers, hidden {a['hidden']}, {a['heads']} heads, "
        f"{a['ffn_type']} FFN, {a['norm']}-norm (η = {report['eta']})"
    )
    for col in ("layer", "FFN width", "k(η)", "k / width"):
        t.add_column(col, justify="right")
    for row in report["layers"]:
        t.add_row(str(row["layer"]), str(row["ffn_width"]), str(row["k"]), f"{row['k_share']:.3f}")
    t.caption = (
        f"Σk = {report['pca']}, non-embedding params = {report['non_embedding_params']:,}, W-PCA = {report['wpca']:.4g}"
    )
    return t


def plot(report: dict[str, Any], path: Path) -> Path:
    import matplotlib  # only when a picture is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["layers"]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows) + 2), 3.2))
    ax.bar([i - 0.2 for i in x], [r["ffn_width"] for r in rows], 0.4, label="FFN width")
    ax.bar([i + 0.2 for i in x], [r["k"] for r in rows], 0.4, label=f"k(η={report['eta']})")
    ax.set_xticks(list(x))
    ax.set_xlabel("layer")
    ax.set_title(f"W-PCA = {report['wpca']:.3g}")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
