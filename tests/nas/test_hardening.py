"""Defaults that mean what they say and failures that say so (one test per promise).

Budget and directions, optimizer options, trial timeouts, evaluators on every executor,
exit codes and one-line errors, read-only commands, secrets, Ray addresses, output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from nas import create_study, load_study
from nas.spec import SpecError, validate_study_spec
from nas.study import BudgetError
from storage import Store, TrialState
from tests.helpers import zdt_spec

ROOT = Path(__file__).resolve().parents[2]
NAS = [sys.executable, "-m", "nas.cli"]


def nas(*args: str, cwd: Path | None = None, pythonpath: str = "", timeout: float = 300,
        **kw: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{pythonpath}"}
    return subprocess.run([*NAS, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, **kw)


def _module(tmp_path: Path, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text("import os, sys, time\n" + textwrap.dedent(body))
    return f"{name}:evaluate"


def _custom(name: str, evaluator: str | None, trials: int = 2, executor: str = "local", **extra: object) -> dict:
    space: dict = {"name": "custom", "params": {"x": {"type": "float", "low": 0, "high": 1}}}
    if evaluator:
        space["evaluator"] = evaluator
    return {"name": name, "space": space, "objectives": [{"name": "f", "direction": "min"}],
            "optimizer": {"name": "random", "seed": 0}, "budget": {"trials": trials},
            "executor": {"name": executor, "workers": 2}, **extra}


def _write(tmp_path: Path, spec: dict) -> str:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


# ---- 1. budget and directions -----------------------------------------------------------------


def test_ask_never_goes_past_the_budget_unless_told_to(storage_url, study_name):
    study = create_study(zdt_spec(study_name, trials=5), storage=storage_url)
    got = [len(study.ask(3)), len(study.ask(10)), len(study.ask(10))]
    assert got == [3, 2, 0] and len(study.trials()) == 5
    assert len(study.ask(2, past_budget=True)) == 2 and len(study.trials()) == 7


def test_an_objective_without_direction_keeps_the_space_direction():
    spec = {"name": "d", "space": {"name": "hawq"}, "budget": {"trials": 2},
            "objectives": [{"name": "accuracy"}, {"name": "size_mb"}]}
    _, _, objectives = validate_study_spec(spec)
    assert [(o.name, o.direction) for o in objectives] == [("accuracy", "max"), ("size_mb", "min")]
    spec["objectives"] = [{"name": "accuracy", "direction": "min"}]  # written out: allowed
    assert validate_study_spec(spec)[2][0].direction == "min"


def test_a_budget_smaller_than_the_counted_trials_is_refused(storage_url, study_name):
    study = create_study(zdt_spec(study_name, trials=6), storage=storage_url)
    for t in study.ask(4):
        study.tell(t, values={"f1": 0.5, "f2": 0.5})
    with pytest.raises(BudgetError, match=r"budget.trials=2 is smaller than the 4 trials"):
        create_study(zdt_spec(study_name, trials=2), storage=storage_url)
    assert load_study(study_name, storage=storage_url).budget == 6
    assert create_study(zdt_spec(study_name, trials=4), storage=storage_url).budget == 4


# ---- 2. optimizer options ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "options", "named"), [
    ("random", {"bogus_option": 1}, "bogus_option"),
    ("sobol", {"scramble": False}, "scramble"),
    ("mobo", {"n_init": 3}, "n_init"),
    ("mobo", {"mc_samples": "64"}, "mc_samples"),
    ("mobo", {"anchor_growth": 1.0}, "anchor_growth"),
])
def test_bad_optimizer_options_are_refused_by_name_before_anything_is_written(tmp_path, name, options, named):
    url = f"sqlite:///{tmp_path}/o.db"
    spec = zdt_spec("opt", optimizer=name)
    spec["optimizer"].update(options)
    with pytest.raises(SpecError, match=named):
        create_study(spec, storage=url)
    assert Store(url).list_studies() == []


def test_optimizers_are_found_through_the_entry_point_group(tmp_path, monkeypatch):
    pkg = tmp_path / "myopt.py"
    pkg.write_text(textwrap.dedent("""
        from nas.optimizers.base import Optimizer, OptimizerOptions
        from nas.optimizers.random import RandomOptimizer

        class Opts(OptimizerOptions):
            temperature: float = 1.0

        class Mine(RandomOptimizer):
            Options = Opts
    """))
    dist = tmp_path / "myopt-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myopt\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[nas.optimizers]\nmine = myopt:Mine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from nas.optimizers import optimizer_names

    assert "mine" in optimizer_names()
    spec = zdt_spec("ep", optimizer="mine")
    spec["optimizer"]["temperature"] = 0.5
    study = create_study(spec, storage=f"sqlite:///{tmp_path}/ep.db")
    assert len(study.ask(2)) == 2
    spec["optimizer"]["temprature"] = 0.5
    with pytest.raises(SpecError, match="temprature"):
        validate_study_spec(spec)


# ---- 3. trial timeouts, 4. the same evaluator behaviour on every executor --------------------------


HANG = """
    def evaluate(p):
        time.sleep(120)
        return {"f": p["x"]}
"""


def test_a_hung_evaluation_times_out_on_the_local_executor_and_retries_follow_max_retries(tmp_path, study_name):
    ev = _module(tmp_path, "hang_l", HANG)
    spec = _custom(study_name, ev, trials=1, trial_timeout_s=1.5, max_retries=1)
    t0 = time.monotonic()
    p = nas("run", _write(tmp_path, spec), "--storage", f"sqlite:///{tmp_path}/t.db", "--quiet", cwd=tmp_path)
    assert time.monotonic() - t0 < 60 and p.returncode == 1, p.stderr[-2000:]
    trials = load_study(study_name, f"sqlite:///{tmp_path}/t.db").trials()
    assert [t.state for t in trials] == [TrialState.FAILED] * 2  # the first try and its one retry
    assert all("timed out after 1.5 s" in (t.error or "") for t in trials)
    assert "timed out after 1.5 s" in p.stderr  # the summary names the most common error


def test_a_hung_evaluation_times_out_on_the_ray_executor(tmp_path, monkeypatch, study_name, ray_session):
    ev = _module(tmp_path, "hang_r", HANG)
    monkeypatch.syspath_prepend(str(tmp_path))
    study = create_study(_custom(study_name, ev, trials=2, executor="ray", trial_timeout_s=2, max_retries=0),
                         storage=f"sqlite:///{tmp_path}/r.db")
    t0 = time.monotonic()
    study.optimize()
    assert time.monotonic() - t0 < 60
    trials = study.trials()
    assert len(trials) == 2 and all(t.state == TrialState.FAILED for t in trials)
    assert all("timed out after 2 s" in (t.error or "") for t in trials)


def test_an_evaluator_importable_from_the_working_directory_runs_on_the_local_executor(tmp_path, study_name):
    ev = _module(tmp_path, "here_ev", """
        def evaluate(p):
            return {"f": p["x"]}
    """)
    spec = _write(tmp_path, _custom(study_name, ev, trials=2))
    p = nas("run", spec, "--storage", f"sqlite:///{tmp_path}/w.db", "--quiet", cwd=tmp_path)  # not on PYTHONPATH
    assert p.returncode == 0, p.stderr[-2000:]
    assert len(load_study(study_name, f"sqlite:///{tmp_path}/w.db").trials("COMPLETE")) == 2


@pytest.mark.parametrize(("body", "words"), [
    ("def evaluate(p):\n    sys.exit(3)\n", "sys.exit(3)"),
    ("def evaluate(p):\n    os._exit(7)\n", "exit code 7"),
])
def test_an_evaluator_that_exits_fails_its_trial_not_the_run(tmp_path, study_name, body, words):
    ev = _module(tmp_path, "exit_ev", body)
    spec = _write(tmp_path, _custom(study_name, ev, trials=2, max_retries=0))
    url = f"sqlite:///{tmp_path}/x.db"
    p = nas("run", spec, "--storage", url, "--quiet", cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    trials = load_study(study_name, url).trials()
    assert len(trials) == 2 and all(t.state == TrialState.FAILED and words in (t.error or "") for t in trials)


# ---- 5. loud, scriptable failures --------------------------------------------------------------------


def test_exit_status_is_nonzero_when_every_trial_failed_and_zero_otherwise(tmp_path, study_name):
    boom = _module(tmp_path, "boom_ev", """
        def evaluate(p):
            raise RuntimeError("boom: the loss diverged")
    """)
    url = f"sqlite:///{tmp_path}/e.db"
    p = nas("run", _write(tmp_path, _custom(study_name, boom, trials=3, max_retries=0)), "--storage", url,
            "--quiet", cwd=tmp_path)
    assert p.returncode == 1 and "most common error (3 of 3 failed): RuntimeError: boom" in p.stderr
    half = _module(tmp_path, "half_ev", """
        def evaluate(p):
            if p["x"] > 0.5:
                raise RuntimeError("too big")
            return {"f": p["x"]}
    """)
    p = nas("run", _write(tmp_path, _custom("half", half, trials=6, max_retries=0)), "--storage", url, "--quiet",
            cwd=tmp_path)
    counts = load_study("half", url).counts()
    assert counts.get("COMPLETE") and counts.get("FAILED") and p.returncode == 0


@pytest.mark.parametrize(("case", "words"), [
    ("no evaluator", "has no evaluator"),
    ("not importable", "cannot import module 'no_such_module_xyz'"),
    ("workers 0", "--workers 0"),
    ("unreachable address", "no Ray cluster answers at 127.0.0.1:9"),
    ("ray client", "Ray Client (ray://) is not supported"),
])
def test_a_spec_that_cannot_run_is_refused_before_the_study_is_written(tmp_path, case, words):
    ev = {"no evaluator": None, "not importable": "no_such_module_xyz:evaluate"}.get(case, "math:sqrt")
    spec = _custom("cannot", ev, executor="ray" if "address" in case or "client" in case else "local")
    extra = {"workers 0": ["--workers", "0"], "unreachable address": ["--address", "127.0.0.1:9"],
             "ray client": ["--address", "ray://127.0.0.1:10001"]}.get(case, [])
    url = f"sqlite:///{tmp_path}/c.db"
    p = nas("run", _write(tmp_path, spec), "--storage", url, *extra, cwd=tmp_path)
    assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr[-1500:]
    assert not (tmp_path / "c.db").exists() or Store(url).list_studies() == []


def test_auto_address_without_a_cluster_is_a_one_line_error(tmp_path, monkeypatch):
    from nas.executors import address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(address, "CLUSTER_FILES", (tmp_path / "ray_current_cluster",))
    with pytest.raises(address.AddressError, match="no Ray cluster is running on this machine"):
        address.check_address("auto")


def test_storage_errors_are_one_line_with_the_password_masked(tmp_path, pg_url):
    spec = _write(tmp_path, _custom("st", "math:sqrt"))
    base = pg_url.rsplit("@", 1)[1].rsplit("/", 1)[0]
    cases = {
        "sqlite:/x.db": "malformed",
        f"postgresql+psycopg://postgres:hunter2secret@{base.split(':')[0]}:1/test": "Connection refused",
        f"postgresql+psycopg://postgres:hunter2secret@{base}/no_such_db_xyz": "does not exist",
    }
    for url, words in cases.items():
        p = nas("run", spec, "--storage", url, cwd=tmp_path)
        assert p.returncode == 2 and words in p.stderr, p.stderr[-1500:]
        assert "Traceback" not in p.stderr and "hunter2secret" not in p.stderr + p.stdout
        assert len(p.stderr.strip().splitlines()) == 1


def test_sigterm_mid_run_hands_running_trials_back_and_resume_finishes_the_budget(tmp_path, storage_url,
                                                                                   study_name):
    ev = _module(tmp_path, "slow_t", """
        def evaluate(p):
            time.sleep(0.5)
            return {"f": p["x"]}
    """)
    spec = _write(tmp_path, _custom(study_name, ev, trials=30))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*NAS, "run", spec, "--storage", storage_url, "--quiet"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if _exists(study_name, storage_url) and len(load_study(study_name, storage_url).trials("COMPLETE")) >= 3:
            break
    else:
        pytest.fail("the run stored no 3 trials in time: nothing to interrupt")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and f"nas resume {study_name}" in err and "Traceback" not in err, err[-1500:]
    study = load_study(study_name, storage_url)
    assert not study.trials("RUNNING") and len(study.trials("COMPLETE")) < 30
    p = nas("resume", study_name, "--storage", storage_url, "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-1500:]
    trials = study.trials()
    assert len(study.trials("COMPLETE")) == 30 == len({t.number for t in trials if t.state == TrialState.COMPLETE})
    assert not study.trials(["RUNNING", "PENDING"])


def _exists(name: str, url: str) -> bool:
    try:
        load_study(name, url, readonly=True)
    except Exception:
        return False
    return True


def test_a_closed_pipe_ends_quietly(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    study = create_study(zdt_spec("pipe", trials=40), storage=url)
    for t in study.ask(40):
        study.tell(t, values={"f1": 0.1 * t.number, "f2": 1.0})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = f"{sys.executable} -m nas.cli trials pipe --format json --storage {url} | head -c 10"
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env, timeout=60)
    assert p.stderr == "" and len(p.stdout) == 10


# ---- 6. read-only commands never write -------------------------------------------------------------------


@pytest.mark.parametrize("command", [["studies"], ["pareto", "x"], ["trials", "x"], ["resume", "x"]])
def test_read_commands_on_a_missing_database_say_so_and_create_nothing(tmp_path, command):
    where = tmp_path / "not" / "there.db"
    p = nas(*command, "--storage", f"sqlite:///{where}")
    assert p.returncode == 2 and "no database at" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "not").exists()


def test_a_database_on_a_read_only_file_system_can_still_be_read(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("LOUD SKIP: cannot mount a tmpfs here (needs root); the read-only read path is untested")
    try:
        url = f"sqlite:///{mnt}/ro.db"
        study = create_study(zdt_spec("ro", trials=3), storage=url)
        for t in study.ask(3):
            study.tell(t, values={"f1": float(t.number), "f2": 3.0 - t.number})
        from storage.engine import dispose_all

        dispose_all()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        p = nas("pareto", "ro", "--format", "json", "--storage", url)
        assert p.returncode == 0 and len(json.loads(p.stdout)) == 3, p.stderr
        p = nas("run", _write(tmp_path, zdt_spec("ro2")), "--storage", url)
        assert p.returncode == 2 and "read-only" in p.stderr and "Traceback" not in p.stderr, p.stderr
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# ---- 7. secrets ------------------------------------------------------------------------------------------


def test_worker_processes_get_the_storage_url_from_the_environment_not_argv(tmp_path, study_name):
    from nas.executors._process import TrialProcess

    url = f"sqlite:///{tmp_path}/secret-hunter2.db"
    study = create_study(zdt_spec(study_name), storage=url)
    child = TrialProcess(url, study.name, study.id, [str(ROOT)])
    try:
        assert child.ready
        argv = Path(f"/proc/{child.proc.pid}/cmdline").read_bytes().decode()
        assert "hunter2" not in argv and study.name in argv
    finally:
        child.close()


# ---- 9. output details -----------------------------------------------------------------------------------


def test_csv_error_column_is_empty_without_an_error_and_the_table_has_no_unexplained_marks(tmp_path):
    url = f"sqlite:///{tmp_path}/csv.db"
    study = create_study(zdt_spec("csv", trials=3), storage=url)
    a, b, c = study.ask(3)
    study.tell(a, values={"f1": 0.1, "f2": 0.9})
    study.tell(b, values={"f1": 0.9, "f2": 0.1})
    study.tell(c, error="Traceback ...\nValueError: diverged")
    rows = nas("trials", "csv", "--format", "csv", "--storage", url).stdout.splitlines()
    assert rows[1].endswith(",") and rows[3].endswith("ValueError: diverged")
    table = nas("trials", "csv", "--storage", url).stdout
    assert "*" not in table and "pareto" in table


def test_pareto_order_is_the_same_in_every_format(tmp_path):
    url = f"sqlite:///{tmp_path}/order.db"
    study = create_study(zdt_spec("order", trials=5), storage=url)
    for t, f1 in zip(study.ask(5), [0.5, 0.1, 0.9, 0.3, 0.7], strict=True):
        study.tell(t, values={"f1": f1, "f2": 1 - f1})
    as_json = [t["number"] for t in json.loads(nas("pareto", "order", "--format", "json", "--storage", url).stdout)]
    as_csv = [int(r.split(",")[0]) for r in nas("pareto", "order", "--format", "csv", "--storage", url)
              .stdout.splitlines()[1:]]
    assert as_json == as_csv == [1, 3, 0, 4, 2]


def test_library_warnings_go_to_the_debug_log_not_the_terminal(capsys, caplog):
    import logging
    import warnings

    from nas import cli

    saved = warnings.showwarning
    try:
        cli._quiet_libraries()
        with caplog.at_level(logging.DEBUG, logger="nas.warnings"), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("added jitter of 1e-06 to the diagonal", RuntimeWarning, stacklevel=1)
    finally:
        warnings.showwarning = saved
    assert capsys.readouterr().err == "" and "added jitter" in caplog.text


def test_spaces_lists_every_builtin_without_importing_torch():
    code = ("import sys; from nas.cli import main; rc = main(['spaces']); "
            "sys.stderr.write('HEAVY:' + ','.join(m for m in ('torch', 'ray') if m in sys.modules)); sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert p.returncode == 0 and p.stderr.strip().endswith("HEAVY:"), p.stderr[-500:]
    from search_spaces.base import BUILTIN_SUMMARIES, get_space_class

    for name, summary in BUILTIN_SUMMARIES.items():
        assert name in p.stdout and get_space_class(name).summary == summary


# ---- 10. durability ----------------------------------------------------------------------------------------


def test_sqlite_commits_are_synchronous_full(tmp_path):
    from storage.engine import get_engine

    with get_engine(f"sqlite:///{tmp_path}/d.db", write=True).connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_password_in_storage_never_shows_in_the_command_line_or_output(tmp_path, pg_url):
    ev = _module(tmp_path, "slow_s", """
        def evaluate(p):
            time.sleep(1.0)
            return {"f": p["x"]}
    """)
    secret_url = pg_url.replace("postgres@", "postgres:hunter2secret@")  # trust auth ignores it
    spec = _write(tmp_path, _custom("secret", ev, trials=3))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*NAS, "run", spec, "--storage", secret_url], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    for _ in range(10):
        time.sleep(0.5)
        try:
            seen += Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-1500:]
    assert "hunter2secret" not in seen + out + err and "secret" in seen  # the same process, re-executed
