"""The sensitivity report on the built-in task, with fast Hessian settings."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from nas.sensitivity import render_suggestions, render_table, sensitivity_report
from search_spaces import SpaceError

FAST = {"hessian_iters": 16, "hessian_batches": 1, "bits": [2, 4, 8]}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("sens")
    mp.setenv("NAS_CACHE_DIR", str(tmp / "cache"))
    budgets = [{"size_mb": 0.1}, {"size_mb": 0.5}, {"size_mb": 0.5, "bops": 0.3}, {"latency_us": 0.8}]
    yield sensitivity_report(FAST, budgets=budgets, ties=[["conv2", "conv3"]],
                             png_path=tmp / "out" / "sens.png")
    mp.undo()


def test_report_has_one_row_per_layer_with_trace_eigenvalue_and_omega_per_width(report):
    assert [r.name for r in report.layers] == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    for r in report.layers:
        assert r.trace_stderr > 0 and r.n_probes >= 16 and r.top_eigenvalue is not None
        assert list(r.omega) == [2, 4, 8] and r.omega[2] >= r.omega[4] >= r.omega[8] >= 0


def test_suggestions_meet_their_budgets_keep_ties_and_infeasible_ones_say_why(report):
    tiny, half, both, lat = report.suggestions
    assert tiny.error and "least possible" in tiny.error and not tiny.bits
    for s in (half, both, lat):
        assert s.error is None and s.bits["conv2"] == s.bits["conv3"]
        assert all(s.costs[k] <= v * (1 + 1e-9) for k, v in s.limits.items())
        assert s.config == {f"bits.{n}": b for n, b in s.bits.items()} and 0 <= s.accuracy <= 1
        assert s.checked_on == "validation" and s.candidates >= 1 and 0 <= s.val_accuracy <= 1
        assert s.ilp_bits["conv2"] == s.ilp_bits["conv3"] and s.omega >= s.ilp_omega - 1e-12
    assert both.ilp_omega >= half.ilp_omega


def test_omega_selection_is_the_plain_ilp_and_a_bad_select_is_named(report):
    plain = sensitivity_report(FAST, budgets=[{"size_mb": 0.5}], ties=[["conv2", "conv3"]], eigenvalues=False,
                               select="omega")
    (s,) = plain.suggestions
    assert s.checked_on is None and s.bits == s.ilp_bits == report.suggestions[1].ilp_bits
    assert s.omega == pytest.approx(report.suggestions[1].ilp_omega)
    with pytest.raises(SpaceError, match=r"select='best'.*measured"):
        sensitivity_report(FAST, select="best")


def test_frontier_is_monotone_and_the_png_and_json_are_written(report):
    sizes = [p["size_mb"] for p in report.frontier]
    omegas = [p["omega"] for p in report.frontier]
    assert sizes == sorted(sizes) and omegas == sorted(omegas, reverse=True)
    assert report.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(json.dumps(report.to_json()))["layers"][0]["omega"]["2"] > 0


def test_tables_render_every_layer_and_budget(report):
    console = Console(width=200, record=True)
    console.print(render_table(report))
    console.print(render_suggestions(report))
    text = console.export_text()
    assert all(n in text for n in ("conv1", "fc2", "Ω@4b", "size_mb ≤ 50%", "least possible"))


def test_unknown_tie_layer_and_budget_cost_are_named(report, monkeypatch, tmp_path):
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    with pytest.raises(SpaceError, match=r"unknown layer\(s\) \['conv9'\]"):
        sensitivity_report(FAST, ties=[["conv1", "conv9"]])
    with pytest.raises(SpaceError, match=r"unknown cost\(s\) \['flops'\]"):
        sensitivity_report(FAST, budgets=[{"flops": 0.5}], eigenvalues=False, evaluate=False)
