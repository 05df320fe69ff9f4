"""`nas sensitivity --space wpca`: per-layer widths and PCA counts as JSON and a chart; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the shared data cache: BBC News is tokenised once
    return subprocess.run(
        [sys.executable, "-m", "nas.cli", "sensitivity", "--space", "wpca", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_wpca_report_gives_width_and_count_per_layer_with_a_chart(tmp_path):
    png = tmp_path / "w.png"
    options = ["max_layers=2", "hidden=[32]", "heads=[2]", "ffn=[32,64]", "ffn.1=64", "batches=1", "eta=0.9"]
    p = run(*[a for o in options for a in ("--option", o)], "--png", str(png), "--format", "json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["arch"]["hidden"] == 32 and [r["ffn_width"] for r in report["layers"]] == [64, 64]
    assert all(1 <= r["k"] <= r["ffn_width"] for r in report["layers"]) and report["eta"] == 0.9
    assert report["wpca"] == report["non_embedding_params"] * sum(r["k"] for r in report["layers"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_wpca_bad_option_is_a_clear_error_and_writes_nothing(tmp_path):
    png = tmp_path / "w.png"
    p = run("--option", "eta=1.5", "--png", str(png))
    assert p.returncode == 2 and "eta=1.5" in p.stderr and "(0, 1]" in p.stderr and "Traceback" not in p.stderr
    p = run("--option", "ffn_types=[moe]", "--png", str(png))
    assert p.returncode == 2 and "ffn_types" in p.stderr and "moe" in p.stderr and "glu" in p.stderr
    assert not png.exists()
