"""The CLI as a user runs it: a real `nas` process, its output formats, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

NAS = [sys.executable, "-m", "nas.cli"]
ROOT = Path(__file__).resolve().parents[2]


def nas(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{kw.pop('pythonpath', '')}"}
    p = subprocess.run([*NAS, *args], capture_output=True, text=True, env=env, timeout=300, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"nas {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p


def _spec(tmp_path: Path, name: str, trials: int, sleep: float = 0.0) -> Path:
    (tmp_path / "slow_ev.py").write_text(
        "import time\n"
        "def evaluate(p):\n"
        f"    time.sleep({sleep})\n"
        "    return {'f1': p['x0'], 'f2': 1 - p['x0'] ** 0.5 + p['x1']}\n"
    )
    spec = {"name": name, "budget": {"trials": trials}, "executor": {"name": "local"},
            "optimizer": {"name": "random", "seed": 0},
            "space": {"name": "custom", "evaluator": "slow_ev:evaluate",
                      "params": {"x0": {"type": "float", "low": 0, "high": 1},
                                 "x1": {"type": "float", "low": 0, "high": 1}}},
            "objectives": [{"name": "f1", "direction": "min"}, {"name": "f2", "direction": "min"}]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_then_query_in_every_format(tmp_path, storage_url, study_name):
    spec = _spec(tmp_path, study_name, 15)
    out = nas("run", str(spec), "--storage", storage_url, "--quiet", pythonpath=str(tmp_path))
    assert "Pareto front" in out.stdout
    trials = json.loads(nas("trials", study_name, "--format", "json", "--storage", storage_url).stdout)
    assert len(trials) == 15 and set(trials[0]) >= {"number", "state", "params", "values"}
    assert trials[0]["state"] == "COMPLETE" and set(trials[0]["values"]) == {"f1", "f2"}
    front = json.loads(nas("pareto", study_name, "--format", "json", "--storage", storage_url).stdout)
    assert front and all(t["is_pareto"] for t in front)
    csv_out = nas("pareto", study_name, "--format", "csv", "--storage", storage_url).stdout.splitlines()
    assert csv_out[0].startswith("number,state,f1,f2") and len(csv_out) == len(front) + 1
    assert study_name in nas("studies", "--storage", storage_url).stdout
    listed = json.loads(nas("studies", "--format", "json", "--storage", storage_url).stdout)
    assert any(s["name"] == study_name and s["complete"] == 15 for s in listed)
    done = json.loads(nas("trials", study_name, "--state", "complete", "--format", "json",
                          "--storage", storage_url).stdout)
    assert len(done) == 15


def test_storage_comes_from_nas_storage_when_no_flag_is_given(tmp_path, study_name):
    spec = _spec(tmp_path, study_name, 3)
    env_url = f"sqlite:///{tmp_path}/env.db"
    os.environ["NAS_STORAGE"] = env_url
    try:
        nas("run", str(spec), "--quiet", pythonpath=str(tmp_path))
        assert (tmp_path / "env.db").exists()
        assert study_name in nas("studies").stdout
    finally:
        del os.environ["NAS_STORAGE"]


def test_unknown_study_and_bad_spec_are_clear_errors(tmp_path):
    url = f"sqlite:///{tmp_path}/e.db"
    nas("db", "upgrade", "--storage", url)
    p = nas("pareto", "nope", "--storage", url, check=False)
    assert p.returncode == 2 and "no study named 'nope'" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nspace: {name: synthetic}\nbudget: {trials: -1}\n")
    p = nas("run", str(bad), "--storage", url, check=False)
    assert p.returncode == 2 and "budget.trials" in p.stderr and "-1" in p.stderr
    assert "Traceback" not in p.stderr


def test_sigkill_mid_study_then_resume_ends_with_exactly_the_budget(tmp_path, storage_url, study_name):
    spec = _spec(tmp_path, study_name, 24, sleep=0.3)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    proc = subprocess.Popen([*NAS, "run", str(spec), "--storage", storage_url, "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once some trials are stored, mid-study
        time.sleep(0.3)
        p = nas("trials", study_name, "--format", "json", "--storage", storage_url, check=False)
        if p.returncode == 0 and 5 <= len(json.loads(p.stdout)) < 24:
            break
    else:
        pytest.fail("the run never reached 5 stored trials: nothing was killed mid-study")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = json.loads(nas("trials", study_name, "--format", "json", "--storage", storage_url).stdout)
    assert sum(t["state"] == "COMPLETE" for t in before) < 24  # the kill landed mid-study
    nas("resume", study_name, "--storage", storage_url, "--quiet", pythonpath=str(tmp_path))
    trials = json.loads(nas("trials", study_name, "--format", "json", "--storage", storage_url).stdout)
    numbers = [t["number"] for t in trials]
    assert len(numbers) == len(set(numbers))
    assert sum(t["state"] == "COMPLETE" for t in trials) == 24
    assert not any(t["state"] in ("RUNNING", "PENDING") for t in trials)


@pytest.mark.parametrize("command", ["pareto", "studies"])
def test_read_commands_import_neither_torch_nor_ray(tmp_path, command):
    url = f"sqlite:///{tmp_path}/r.db"
    from nas import create_study
    from tests.helpers import zdt_spec

    s = create_study(zdt_spec("r", trials=3), storage=url)
    s.optimize()
    code = ("import sys; from nas.cli import main; rc = main(sys.argv[1:]); "
            "bad = [m for m in ('torch', 'ray', 'botorch') if m in sys.modules]; "
            "sys.stderr.write('HEAVY:' + ','.join(bad)); sys.exit(rc)")
    args = [command, "r"] if command == "pareto" else [command]
    p = subprocess.run([sys.executable, "-c", code, *args, "--storage", url], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().endswith("HEAVY:"), p.stderr[-300:]


def test_db_upgrade_creates_the_schema_and_is_idempotent(tmp_path, storage_url):
    url = storage_url if storage_url.startswith("postgresql") else f"sqlite:///{tmp_path}/up.db"
    for _ in range(2):
        out = nas("db", "upgrade", "--storage", url).stdout
        assert "schema at revision 0002" in out
