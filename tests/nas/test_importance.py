"""Sobol indices on the GP surrogate, checked against analytic values.

Ishigami (a=7, b=0.1) with a fourth input the function ignores, at 300 scrambled-Sobol
points, over 10 seeds: every index within 0.05, the ignored input under 0.02, and the 95%
interval of every index covering its analytic value in at least 9 of 10 seeds. The
G-function's 8 inputs ranked exactly; mixed parameters (int, categorical, log float)
through a stored study and the CLI; the ANOVA kernel against botorch's own kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import qmc

from nas.importance import ImportanceError, Settings, importance, min_trials
from search_spaces.params import Float

ROOT = Path(__file__).resolve().parents[2]
FAST = {"base": 512, "samples": 8, "anchors": 512}

# Ishigami, a=7, b=0.1 (inputs x0..x2) plus x3, which the function ignores.
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437, 0.0])


def _ishigami(u: np.ndarray) -> np.ndarray:
    x = -np.pi + 2 * np.pi * u
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def _sobol_points(d: int, n: int, seed: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n is not a power of two; the issue asks for 300
        return qmc.Sobol(d, scramble=True, seed=seed).random(n)


@pytest.fixture(scope="module")
def ishigami_runs():
    torch.set_num_threads(1)
    params = {f"x{j}": Float(-np.pi, np.pi) for j in range(4)}
    runs = []
    for seed in range(10):
        u = _sobol_points(4, 300, seed)
        runs.append(importance(u, _ishigami(u), params, "f", settings=Settings(seed=seed, **FAST)))
    return runs


def _values(r, which: str) -> np.ndarray:
    return np.array([getattr(p, which).value for p in r.params])


def test_ishigami_indices_are_within_005_of_analytic_on_every_seed(ishigami_runs):
    for r in ishigami_runs:
        assert np.abs(_values(r, "s1") - ISHIGAMI_S1).max() < 0.05, _values(r, "s1")
        assert np.abs(_values(r, "st") - ISHIGAMI_ST).max() < 0.05, _values(r, "st")


def test_ignored_parameter_gets_s1_and_st_under_002(ishigami_runs):
    for r in ishigami_runs:
        ignored = r.params[3]
        assert ignored.s1.high < 0.02 and ignored.st.high < 0.02, ignored


def test_intervals_cover_analytic_values_in_nine_of_ten_seeds(ishigami_runs):
    # An index reported as 0.000 whose truth is 0 counts as covered (3-decimal reporting).
    covered = np.zeros(8, dtype=int)
    for r in ishigami_runs:
        lo = np.array([p.s1.low for p in r.params] + [p.st.low for p in r.params]) - 5e-4
        hi = np.array([p.s1.high for p in r.params] + [p.st.high for p in r.params]) + 5e-4
        truth = np.concatenate([ISHIGAMI_S1, ISHIGAMI_ST])
        covered += (lo <= truth) & (truth <= hi)
    assert covered.min() >= 9, covered  # every index, S1 and ST of each input, in 9 of 10 seeds


def test_interactions_name_the_parameters_that_interact(ishigami_runs):
    # Ishigami's only interaction is x0·x2 (ST - S1 = 0.244 for both).
    for r in ishigami_runs:
        assert {p.name for p in r.top_interactions(k=2)} == {"x0", "x2"}


def test_anova_kernel_is_the_product_of_one_plus_botorchs_one_column_kernels():
    from itertools import combinations

    from botorch.models.kernels.categorical import CategoricalKernel
    from gpytorch.kernels import RBFKernel

    from nas._anova_kernel import AnovaKernel

    torch.manual_seed(0)
    cat = [False, True, False]
    x1 = torch.rand(7, 3, dtype=torch.double)
    x2 = torch.rand(5, 3, dtype=torch.double)
    x1[:, 1], x2[:, 1] = torch.randint(0, 3, (7,)), torch.randint(0, 3, (5,))
    ours = AnovaKernel(cat).to(torch.double)
    ours.lengthscale = torch.tensor([[0.3, 0.7, 1.9]], dtype=torch.double)
    ours.raw_weight.data = torch.tensor([0.1, -1.0, 2.0], dtype=torch.double)
    w = ours.weight.detach()
    ks = []
    for j in range(3):
        base = (CategoricalKernel(active_dims=[j]) if cat[j] else RBFKernel(active_dims=[j])).to(torch.double)
        base.lengthscale = ours.lengthscale[0, j]
        ks.append(base(x1, x2).to_dense().detach())
    # the expansion over every subset of inputs: 1 + main effects + pairs + the triple
    want = torch.ones(7, 5, dtype=torch.double)
    for size in (1, 2, 3):
        for subset in combinations(range(3), size):
            term = torch.ones(7, 5, dtype=torch.double)
            for j in subset:
                term = term * w[j] * ks[j]
            want += term
    with torch.no_grad():
        assert torch.allclose(ours(x1, x2).to_dense(), want, atol=1e-12)
        diag = ours(x1, x1, diag=True)
        assert torch.allclose(diag, torch.full((7,), float(torch.prod(1 + w)), dtype=torch.double))
    assert torch.allclose(ours(x1, x2).to_dense().detach(), want, atol=1e-12)  # with autograd on


def test_g_function_ranks_its_eight_inputs_exactly():
    torch.set_num_threads(1)
    a = np.array([1, 2, 3, 5, 7, 10, 15, 25.0])
    u = _sobol_points(8, 512, 0)
    y = np.prod((np.abs(4 * u - 2) + a) / (1 + a), axis=1)
    r = importance(u, y, {f"x{j}": Float(0, 1) for j in range(8)}, "g", settings=Settings(seed=0, **FAST))
    assert list(np.argsort(-_values(r, "st"))) == list(range(8)), _values(r, "st")


def test_fanova_ranks_ishigami_inputs_by_total_effect():
    u = _sobol_points(4, 300, 0)
    params = {f"x{j}": Float(-np.pi, np.pi) for j in range(4)}
    r = importance(u, _ishigami(u), params, "f", "fanova", Settings(seed=0, trees=16, base=256))
    assert list(np.argsort(-_values(r, "st"))) == [0, 1, 2, 3]
    # Fully grown trees split on noise, so the forest gives the ignored input a few percent
    # (0.037 here) where the GP gives it under 0.02: the reason sobol is the default.
    assert r.params[3].st.value < 0.1


def test_too_few_trials_is_refused_with_the_number_needed():
    params = {f"x{j}": Float(0, 1) for j in range(6)}
    u = np.random.default_rng(0).random((13, 6))
    with pytest.raises(ImportanceError, match=r"13 completed trials; importance needs at least 14"):
        importance(u, u.sum(1), params, "f")
    assert min_trials(6) == 14 and min_trials(2) == 10
    with pytest.raises(ImportanceError, match="method 'shap'"):
        importance(u, u.sum(1), params, "f", "shap")


def _write_study(tmp_path: Path, trials: int) -> tuple[Path, str]:
    import yaml

    (tmp_path / "imp_ev.py").write_text(
        "def evaluate(p):\n"
        "    b = {'a': 0.0, 'b': 1.0, 'c': 2.0}[p['op']]\n"
        "    return {'f': 3 * p['x'] + b + 0.3 * p['k'] + 2 * p['x'] * b, 'g': float(p['k'] ** 2)}\n"
    )
    spec = {
        "name": "imp",
        "budget": {"trials": trials},
        "executor": {"name": "local"},
        "optimizer": {"name": "random", "seed": 0},
        "space": {
            "name": "custom",
            "evaluator": "imp_ev:evaluate",
            "params": {
                "x": {"type": "float", "low": 0, "high": 1},
                "k": {"type": "int", "low": 1, "high": 4},
                "op": {"type": "categorical", "choices": ["a", "b", "c"]},
                "z": {"type": "float", "low": 1e-3, "high": 1, "log": True},
            },
        },
        "objectives": [{"name": "f", "direction": "min"}, {"name": "g", "direction": "min"}],
    }
    path = tmp_path / "imp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, f"sqlite:///{tmp_path}/nas.db"


def _nas(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    return subprocess.run(
        [sys.executable, "-m", "nas.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_cli_reports_mixed_parameters_with_a_chart(tmp_path):
    spec, url = _write_study(tmp_path, 40)
    assert _nas(tmp_path, "run", str(spec), "--storage", url, "--quiet").returncode == 0
    png = tmp_path / "imp.png"
    fast = ("--samples", "4", "--base", "256")
    args = ("importance", "imp", "--storage", url, "--objective", "f", "--format", "json", "--png", str(png))
    p = _nas(tmp_path, *args, *fast)
    assert p.returncode == 0, p.stderr
    [f] = json.loads(p.stdout)
    assert (f["objective"], f["method"], f["n_trials"]) == ("f", "sobol", 40)
    st = {q["name"]: q["ST"]["value"] for q in f["params"]}
    # f = x(3 + 2b) + b + 0.3k, b uniform on {0, 1, 2}: analytic ST op 0.57, x 0.45, k 0.02, z 0.
    assert st["op"] > st["x"] > st["k"] > st["z"] and st["z"] < 0.02
    assert abs(st["op"] - 0.57) < 0.05 and abs(st["x"] - 0.45) < 0.05
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    table = _nas(tmp_path, "importance", "imp", "--storage", url, "--method", "fanova", *fast)
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("ST (total)") == 2  # one table per objective
    assert "fanova indices from 40 trials" in table.stdout


def test_cli_refuses_a_study_with_too_few_trials(tmp_path):
    spec, url = _write_study(tmp_path, 6)
    assert _nas(tmp_path, "run", str(spec), "--storage", url, "--quiet").returncode == 0
    p = _nas(tmp_path, "importance", "imp", "--storage", url)
    assert p.returncode == 2 and "6 completed trials; importance needs at least 10" in p.stderr
    p = _nas(tmp_path, "importance", "imp", "--storage", url, "--objective", "nope")
    assert p.returncode == 2 and "objective 'nope' is not one of ['f', 'g']" in p.stderr
