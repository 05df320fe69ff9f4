"""`nas sensitivity` as a user runs it: table, JSON, the chart, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NAS_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "nas.cli", "sensitivity", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_sensitivity_report_json_and_chart(tmp_path):
    png = tmp_path / "s.png"
    p = run(tmp_path, "--no-eigenvalues", "--budget", "size_mb=0.5", "--budget", "size_mb=0.45,bops=0.4",
            "--png", str(png), "--format", "json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    layers = [r["name"] for r in report["layers"]]
    assert layers == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    assert all(r["trace_stderr"] > 0 and set(r["omega"]) == {str(b) for b in range(2, 9)} for r in report["layers"])
    half, both = report["suggestions"]
    assert half["error"] is None and half["costs"]["size_mb"] <= half["limits"]["size_mb"] + 1e-12
    assert half["checked_on"] == "validation" and half["candidates"] >= 1 and half["ilp_bits"]
    assert both["costs"]["bops"] <= both["limits"]["bops"] + 1e-9
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_sensitivity_bad_input_is_a_clear_error(tmp_path):
    p = run(tmp_path, "--option", "task=cifar", "--png", str(tmp_path / "x.png"))
    assert p.returncode == 2 and "task" in p.stderr and "cifar" in p.stderr and "Traceback" not in p.stderr
    p = run(tmp_path, "--budget", "size_mb=3")
    assert p.returncode == 2 and "fraction" in p.stderr
