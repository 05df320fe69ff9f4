"""The Ray executor with real Ray: parallel, asynchronous, fault-tolerant, resumable, multi-node.

In-process tests share one local Ray (the ``ray_session`` fixture). The CLI tests start
their own drivers as subprocesses: a driver killed with SIGKILL, then ``nas resume``.
Evaluators are small modules written to ``tmp_path`` and found by workers through the
driver's import path, as a user's ``module:function`` evaluator would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil
import pytest

from nas import _workers, create_study, load_study
from nas.executors import make_executor
from nas.executors.ray import RayExecutor, RayExecutorError
from nas.spec import ExecutorSpec
from storage import Store, TrialState
from tests.helpers import zdt_spec

ROOT = Path(__file__).resolve().parents[2]
NAS = str(Path(sys.executable).with_name("nas"))

# A log line per evaluation start and end: {"kind", "pid", "p"} (JSON lines, appended).
LOGGING = """
import json, math, os, time
DIR = "@DIR@"
def _log(kind, p, **extra):
    with open(os.path.join(DIR, "evals.log"), "a") as f:
        f.write(json.dumps({"kind": kind, "pid": os.getpid(), "p": p, **extra}) + "\\n")
def _first(tag):
    try:
        os.close(os.open(os.path.join(DIR, tag), os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False
def _call_index():
    i = 0
    while not _first(f"call-{i}"):
        i += 1
    return i
"""


def _evaluator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    """Write an evaluator module to ``tmp_path``; returns its ``module:evaluate`` path."""
    name = f"ev_{uuid.uuid4().hex[:10]}"
    src = (LOGGING + textwrap.dedent(body)).replace("@DIR@", str(tmp_path))
    (tmp_path / f"{name}.py").write_text(src)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:evaluate"


def _spec(name: str, evaluator: str, trials: int, workers: int = 2, **extra: object) -> dict:
    x = {"type": "float", "low": 0.0, "high": 1.0}
    return {
        "name": name,
        "space": {"name": "custom", "params": {"x0": x, "x1": x}, "evaluator": evaluator},
        "objectives": [{"name": "f1", "direction": "min"}, {"name": "f2", "direction": "min"}],
        "optimizer": {"name": "random", "seed": 0},
        "budget": {"trials": trials},
        "executor": {"name": "ray", "workers": workers},
        **extra,
    }


def _evals(tmp_path: Path) -> list[dict]:
    log = tmp_path / "evals.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


# ---- running ---------------------------------------------------------------------------


def test_ray_workers_evaluate_in_parallel_and_write_their_own_results(storage_url, study_name, ray_session):
    study = create_study(zdt_spec(study_name, trials=12), storage=storage_url)
    reported = []
    study.optimize(RayExecutor(workers=2), progress=lambda s, t: reported.append(t.number))
    done = study.trials(TrialState.COMPLETE)
    assert len(done) == 12 and study.done()
    assert sorted(reported) == [t.number for t in done]  # progress saw every finished trial
    driver = _workers.worker_id()
    assert all(t.worker_id and t.worker_id != driver for t in done)  # workers took their trials over
    assert len({t.worker_id for t in done}) >= 2


def test_driver_refills_the_pool_as_soon_as_one_trial_finishes(tmp_path, monkeypatch, study_name, ray_session):
    ev = _evaluator(tmp_path, monkeypatch, """
        def evaluate(p):
            time.sleep(3.0 if _first("slow") else 0.05)
            return {"f1": p["x0"], "f2": p["x1"]}
    """)
    study = create_study(_spec(study_name, ev, trials=10), storage=f"sqlite:///{tmp_path}/nas.db")
    study.optimize(RayExecutor(workers=2))
    done = study.trials(TrialState.COMPLETE)
    assert len(done) == 10
    slow = max(done, key=lambda t: t.finished_at - t.started_at)
    during = [t for t in done
              if t is not slow and slow.started_at <= t.started_at and t.finished_at <= slow.finished_at]
    assert len(during) >= 6, "the free worker must keep taking trials while the slow one runs"


# ---- failures --------------------------------------------------------------------------


def test_raising_nan_and_missing_objectives_fail_their_trials_and_the_study_goes_on(
    tmp_path, monkeypatch, study_name, ray_session
):
    ev = _evaluator(tmp_path, monkeypatch, """
        def evaluate(p):
            i = _call_index() % 4
            if i == 0:
                raise ValueError(f"bad config {p['x0']:.3f}")
            if i == 1:
                return {"f1": float("nan"), "f2": 1.0}
            if i == 2:
                return {"f1": 1.0}
            return {"f1": p["x0"], "f2": p["x1"]}
    """)
    study = create_study(_spec(study_name, ev, trials=8), storage=f"sqlite:///{tmp_path}/nas.db")
    study.optimize(RayExecutor(workers=2))
    failed = study.trials(TrialState.FAILED)
    assert len(study.trials(TrialState.COMPLETE)) == 2 and len(failed) == 6 and study.done()
    errors = [t.error or "" for t in failed]
    raised = [e for e in errors if "ValueError: bad config" in e]
    assert len(raised) == 2 and all("Traceback" in e and "evaluate" in e for e in raised)
    assert sum("must be finite" in e for e in errors) == 2
    assert sum("no value for objective(s) ['f2']" in e for e in errors) == 2


def test_crashed_worker_trial_is_requeued_at_once_and_completes(
    storage_url, tmp_path, monkeypatch, study_name, ray_session
):
    ev = _evaluator(tmp_path, monkeypatch, """
        def evaluate(p):
            if _first("crash"):
                _log("crash", p)
                os._exit(3)
            return {"f1": p["x0"], "f2": p["x1"]}
    """)
    study = create_study(_spec(study_name, ev, trials=4), storage=storage_url)
    t0 = time.monotonic()
    study.optimize(RayExecutor(workers=2))
    assert time.monotonic() - t0 < study.spec.lease.grace_s / 2  # detected, not waited out
    (lost,) = study.trials(TrialState.FAILED)
    assert "worker died" in (lost.error or "") and "re-queued" in (lost.error or "")
    done = study.trials(TrialState.COMPLETE)
    assert len(done) == 4
    (retry,) = [t for t in done if t.attempt == 1]
    assert retry.params == lost.params == _evals(tmp_path)[0]["p"]


def test_worker_killed_every_time_gives_up_after_max_retries(tmp_path, monkeypatch, study_name, ray_session):
    ev = _evaluator(tmp_path, monkeypatch, """
        import signal
        def evaluate(p):
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    """)
    study = create_study(_spec(study_name, ev, trials=2, max_retries=1), storage=f"sqlite:///{tmp_path}/nas.db")
    study.optimize(RayExecutor(workers=2))
    failed = study.trials(TrialState.FAILED)
    assert len(failed) == 4 and study.done()
    assert sum("gave up after 2 attempt(s)" in (t.error or "") for t in failed) == 2


# ---- the driver dies -----------------------------------------------------------------------


RAY_PROCESS = ("ray::", "raylet", "gcs_server", "ray/_private", "ray/autoscaler", "ray/dashboard",
               "nas.executors._reaper", "nas.worker")


def _ray_processes() -> dict[tuple[int, float], psutil.Process]:
    out = {}
    for p in psutil.process_iter(["name", "cmdline", "create_time"]):
        text = " ".join([p.info["name"] or "", *(p.info["cmdline"] or [])])
        if any(k in text for k in RAY_PROCESS):
            out[(p.pid, p.info["create_time"])] = p
    return out


def _left_behind(before: dict, mark: str) -> list[str]:
    """Ray processes started since ``before`` that nobody owns any more (orphans), or that
    carry the drivers' ``NAS_TEST_MARK`` (agents rewrite their environment, hence both)."""
    out = []
    for key, p in _ray_processes().items():
        try:
            if key in before or p.status() == psutil.STATUS_ZOMBIE:
                continue
            marked = p.environ().get("NAS_TEST_MARK") == mark
            if marked or p.ppid() == 1:
                out.append(f"{p.pid} {p.name()}")
        except psutil.Error:
            continue
    return out


@pytest.mark.parametrize("where", ["sqlite-own-ray", "postgresql-shared-cluster"])
def test_resume_after_driver_sigkill_finishes_exact_budget(where, tmp_path, monkeypatch, study_name, request):
    ev = _evaluator(tmp_path, monkeypatch, """
        def evaluate(p):
            _log("start", p)
            time.sleep(0.4)
            _log("done", p)
            return {"f1": p["x0"], "f2": p["x1"]}
    """)
    budget = 16
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(_spec(study_name, ev, trials=budget)))
    if where.startswith("sqlite"):
        url, extra = f"sqlite:///{tmp_path}/nas.db", []
    else:
        import ray

        url = request.getfixturevalue("pg_url")
        request.getfixturevalue("ray_session")
        extra = ["--address", ray.get_runtime_context().gcs_address]
    # After the shared Ray is up: ray.init puts its auth settings (RAY_AUTH_MODE) in the
    # environment, and a driver joining that cluster needs them like any user's shell would.
    mark = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NAS_TEST_MARK": mark}
    env.pop("RAY_ADDRESS", None)
    args = ["--storage", url, "--quiet", *extra]
    ours_before = _ray_processes()

    driver = subprocess.Popen([NAS, "run", str(spec_file), *args], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store, deadline = Store(url), time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        names = {s.name: s for s in store.list_studies()}
        if study_name in names and names[study_name].counts.get("COMPLETE", 0) >= 4:
            break
        time.sleep(0.2)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = {t.number: t.values for t in load_study(study_name, url).trials(TrialState.COMPLETE)}
    assert 4 <= len(before) < budget

    r = subprocess.run([NAS, "resume", study_name, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]

    study = load_study(study_name, url)
    trials = study.trials()
    done = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len(done) == budget and study.done(), [(t.number, t.state, t.error) for t in trials if t not in done]
    assert len({t.number for t in trials}) == len(trials)
    after = {t.number: t.values for t in done}
    assert all(after.get(n) == v for n, v in before.items())  # every finished result is kept
    # A params set ran more than once only when a worker died with it (a re-queued FAILED trial).
    lost = Counter(_key(t.params) for t in trials if t.state is TrialState.FAILED and "worker died" in (t.error or ""))
    starts = Counter(_key(e["p"]) for e in _evals(tmp_path) if e["kind"] == "start")
    assert all(n <= 1 + lost[k] for k, n in starts.items()), (starts, lost)
    assert {_key(t.params) for t in done} <= set(starts)

    deadline = time.monotonic() + 15  # no Ray process of either driver is left behind
    while _left_behind(ours_before, mark) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _left_behind(ours_before, mark)


# ---- several drivers, several nodes --------------------------------------------------------------


def test_two_drivers_share_one_postgres_study_without_duplicates(tmp_path, monkeypatch, study_name, pg_url,
                                                                 ray_session):
    import ray

    ev = _evaluator(tmp_path, monkeypatch, """
        import ray
        def evaluate(p):
            _log("start", p)
            time.sleep(0.2)
            return {"f1": p["x0"], "f2": p["x1"], "job": ray.get_runtime_context().get_job_id()}
    """)
    budget = 16
    create_study(_spec(study_name, ev, trials=budget, workers=1), storage=pg_url)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [NAS, "resume", study_name, "--storage", pg_url, "--quiet", "--address",
           ray.get_runtime_context().gcs_address]
    drivers = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for _ in range(2)]
    for d in drivers:
        assert d.wait(timeout=120) == 0, d.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    trials = load_study(study_name, pg_url).trials()
    assert len(trials) == budget and all(t.state is TrialState.COMPLETE for t in trials)
    assert len({t.number for t in trials}) == budget
    assert len(_evals(tmp_path)) == budget  # every trial evaluated once: none ran twice
    assert len({t.metrics["job"] for t in trials}) == 2  # both drivers took a share


MULTINODE = """
import sys, time
import ray
from ray.cluster_utils import Cluster
from nas import create_study
from nas.executors.ray import RayExecutor
from tests.nas.test_ray_executor import _spec

url, name, ev, path = sys.argv[1:5]
sys.path.insert(0, path)
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                  "object_store_memory": 80 * 1024**2})
try:
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=80 * 1024**2)
    cluster.wait_for_nodes()
    study = create_study(_spec(name, ev, trials=9, workers=3), storage=url)
    RayExecutor(workers=3, address=cluster.address).run(study)
finally:
    ray.shutdown()
    cluster.shutdown()
"""


def test_study_runs_across_a_multi_node_ray_cluster_on_postgres(tmp_path, monkeypatch, study_name, pg_url):
    ev = _evaluator(tmp_path, monkeypatch, """
        import ray
        def evaluate(p):
            time.sleep(0.3)
            return {"f1": p["x0"], "f2": p["x1"], "node": ray.get_runtime_context().get_node_id()}
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-c", MULTINODE, pg_url, study_name, ev, str(tmp_path)], env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    done = load_study(study_name, pg_url).trials(TrialState.COMPLETE)
    assert len(done) == 9
    assert len({t.metrics["node"] for t in done}) >= 2


# ---- configuration ----------------------------------------------------------------------------


def test_spec_and_overrides_build_the_ray_executor():
    ex = make_executor(ExecutorSpec(name="ray", workers=3, cpus_per_trial=0.5), workers=4, address="auto")
    assert isinstance(ex, RayExecutor)
    assert (ex.workers, ex.cpus_per_trial, ex.address) == (4, 0.5, "auto")
    assert ExecutorSpec().name == "ray"
    with pytest.raises(RayExecutorError, match="workers=0"):
        RayExecutor(workers=0)


def test_asking_for_gpus_the_cluster_lacks_fails_with_a_clear_message(tmp_path, study_name, ray_session):
    study = create_study(zdt_spec(study_name, trials=2), storage=f"sqlite:///{tmp_path}/nas.db")
    with pytest.raises(RayExecutorError, match="gpus_per_trial"):
        study.optimize(RayExecutor(workers=1, gpus_per_trial=1))


# ---- warm start: trials run in a plain subprocess while a local Ray boots -------------------------


def test_warm_start_process_evaluates_trials_until_stopped(tmp_path, monkeypatch, study_name):
    from nas.executors._warm import WarmPool

    ev = _evaluator(tmp_path, monkeypatch, """
        def evaluate(p):
            time.sleep(0.1)
            return {"f1": p["x0"], "f2": p["x1"]}
    """)
    study = create_study(_spec(study_name, ev, trials=50), storage=f"sqlite:///{tmp_path}/nas.db")
    warm = WarmPool(study, 2)
    warm.start()
    assert warm.wait_ready(60) == 2  # both processes up (what the executor waits for before Ray)
    deadline = time.monotonic() + 60
    while len(study.trials(TrialState.COMPLETE)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    warm.stop()
    warm.join(30)
    assert not warm.busy() and not warm.lost
    finished = warm.take_finished()
    done = study.trials(TrialState.COMPLETE)
    assert len(done) >= 3 and sorted(finished) == sorted(t.id for t in done) and not study.trials("RUNNING")
    assert 1 <= len({t.worker_id for t in done}) <= 2 and _workers.worker_id() not in {t.worker_id for t in done}


def test_warm_start_process_that_dies_fails_its_trial_and_requeues_it(tmp_path, monkeypatch, study_name):
    from nas.executors._warm import WarmPool

    ev = _evaluator(tmp_path, monkeypatch, """
        def evaluate(p):
            os._exit(5)
    """)
    study = create_study(_spec(study_name, ev, trials=5), storage=f"sqlite:///{tmp_path}/nas.db")
    warm = WarmPool(study)
    warm.start()
    warm.join(60)
    assert not warm.busy() and not warm.lost
    (failed,) = study.trials(TrialState.FAILED)
    assert warm.take_finished() == [failed.id]
    assert "ended (exit code 5)" in (failed.error or "") and failed.requeued
    (retry,) = study.trials(TrialState.PENDING)
    assert retry.params == failed.params and not study.trials(TrialState.RUNNING)


def test_a_slow_ray_start_is_bridged_by_a_warm_pool_of_every_worker_without_duplicates(tmp_path):
    """A whole `nas run` in a subprocess whose Ray start is slowed by 4 s (a wrapper around
    ray.init, which is outside our control): the two warm processes evaluate trials
    meanwhile, then Ray takes over; every trial is evaluated exactly once."""
    (tmp_path / "logged.py").write_text(textwrap.dedent("""
        import json, os, sys, time
        def evaluate(p):
            time.sleep(0.2 if "ray" in sys.modules else 2.0)  # slow in the warm pool: Ray must take over
            with open(os.path.join(os.path.dirname(__file__), "evals.log"), "a") as f:
                f.write(json.dumps({"x0": p["x0"], "pid": os.getpid(), "ray": "ray" in sys.modules}) + "\\n")
            return {"f1": p["x0"], "f2": p["x1"]}
    """))
    spec = tmp_path / "warm.yaml"
    spec.write_text(json.dumps(_spec("warm", "logged:evaluate", trials=16)))
    url = f"sqlite:///{tmp_path}/w.db"
    code = ("import sys, time, ray; init = ray.init\n"
            "def slow(*a, **k):\n    time.sleep(4); return init(*a, **k)\n"
            "ray.init = slow\nfrom nas.cli import main\nsys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": f"{Path(__file__).resolve().parents[2]}{os.pathsep}{tmp_path}"}
    p = subprocess.run([sys.executable, "-c", code, "run", str(spec), "--storage", url, "--quiet"], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    evals = [json.loads(line) for line in (tmp_path / "evals.log").read_text().splitlines()]
    assert len(evals) == 16 and len({e["x0"] for e in evals}) == 16  # each trial evaluated exactly once
    warm_pids = {e["pid"] for e in evals if not e["ray"]}
    assert len(warm_pids) == 2  # both warm processes worked while Ray started
    assert any(e["ray"] for e in evals)  # and Ray took over


def _run_nas(tmp_path: Path, code_before: str, spec: dict, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`nas run SPEC` in a fresh process after ``code_before`` (which wraps a Ray internal
    to slow the boot: Ray is outside our control); returns the process and its wall time."""
    spec_file = tmp_path / "run.json"
    spec_file.write_text(json.dumps(spec))
    code = code_before + "\nfrom nas.cli import entry\nentry()"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    env.pop("RAY_ADDRESS", None)
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code, "run", str(spec_file), "--storage",
                        f"sqlite:///{tmp_path}/nas.db", "--quiet", *args], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    return p, time.monotonic() - t


SLOW_CONNECT = """
import time, ray._private.worker as w
_connect = w.connect
def connect(*a, **k):  # Ray's processes are up; the driver's connection is held back
    time.sleep(@S@)
    return _connect(*a, **k)
w.connect = connect
"""


def test_a_study_the_warm_pool_finishes_first_ends_without_waiting_for_ray(tmp_path):
    """Ray's GCS and raylet are up but its driver connection is held back 60 s: the two warm
    processes run all 6 trials, `nas run` exits at once, and the watchdog clears the
    half-booted Ray (nothing of it is left)."""
    (tmp_path / "quick.py").write_text("def evaluate(p):\n    return {'f1': p['x0'], 'f2': p['x1']}\n")
    before = _ray_processes()
    p, wall = _run_nas(tmp_path, SLOW_CONNECT.replace("@S@", "60"), _spec("quick", "quick:evaluate", trials=6))
    assert p.returncode == 0, p.stderr[-2000:]
    assert wall < 40, f"nas run waited for Ray: {wall:.0f} s"
    study = load_study("quick", f"sqlite:///{tmp_path}/nas.db")
    done = study.trials(TrialState.COMPLETE)
    assert len(done) == 6 and len({t.worker_id for t in done}) <= 2
    deadline = time.monotonic() + 15
    while (left := [q for k, q in _ray_processes().items() if k not in before and q.is_running()
                    and q.status() != psutil.STATUS_ZOMBIE]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"left behind: {[q.name() for q in left]}"


def test_ray_boots_at_the_lowest_cpu_priority_and_an_abandoned_boot_shuts_itself_down(tmp_path):
    """In a fresh process (the test session shares another Ray): every process of the Ray
    that RayBoot starts runs at niceness 19 and under SCHED_IDLE while this process's main
    thread keeps its own; a boot closed before it is up shuts its Ray down by itself once
    it is up."""
    code = textwrap.dedent("""
        import os, threading, time, psutil, ray
        from nas.executors._ray_boot import RayBoot, join_abandoned
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        boot = RayBoot(num_cpus=1).start()
        boot.wait(120)
        kids = [p for p in psutil.Process().children(recursive=True) if p.name() in ("raylet", "gcs_server")]
        print("NICE", sorted({p.nice() for p in kids}), len(kids), mine,
              os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        print("POLICY", sorted({os.sched_getscheduler(p.pid) for p in kids}) == [os.SCHED_IDLE],
              os.sched_getscheduler(0) == os.SCHED_OTHER)
        boot.close()
        print("AFTER-CLOSE", ray.is_initialized())
        @SLOW@
        boot = RayBoot(num_cpus=1).start()
        time.sleep(0.5)
        boot.close()  # still booting: abandoned
        print("ABANDONED", boot.up())
        join_abandoned()
        gone = not [p for p in psutil.Process().children(recursive=True) if p.name() in ("raylet", "gcs_server")]
        print("SHUT", boot.up(), ray.is_initialized(), gone)
    """.replace("@SLOW@", SLOW_CONNECT.replace("@S@", "3").replace("\n", "\n        ")))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in p.stdout.splitlines() if " " in line)
    nices, n, main_before, main_after = lines["NICE"].rsplit(" ", 3)
    assert nices == "[19]" and int(n) == 2 and main_before == main_after == "0"
    assert lines["POLICY"] == "True True"  # SCHED_IDLE for Ray's processes, not for ours
    assert lines["AFTER-CLOSE"] == "False"
    assert lines["ABANDONED"] == "False"
    assert lines["SHUT"] == "True False True"


def test_an_interrupt_during_the_warm_start_ends_its_evaluations_and_hands_their_trials_back(tmp_path):
    """SIGINT while the two warm processes evaluate (Ray held back): exit 130, both trials
    back in the queue (not failed), and the warm processes end with the driver."""
    (tmp_path / "slow.py").write_text(textwrap.dedent("""
        import os, time
        def evaluate(p):
            open(os.path.join(os.path.dirname(__file__), f"started-{os.getpid()}-{p['x0']}"), "w").close()
            time.sleep(30)
            return {"f1": p["x0"], "f2": p["x1"]}
    """))
    spec_file = tmp_path / "run.json"
    spec_file.write_text(json.dumps(_spec("slow", "slow:evaluate", trials=4)))
    code = SLOW_CONNECT.replace("@S@", "60") + "\nfrom nas.cli import entry\nentry()"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    env.pop("RAY_ADDRESS", None)
    p = subprocess.Popen([sys.executable, "-c", code, "run", str(spec_file), "--storage",
                          f"sqlite:///{tmp_path}/nas.db", "--quiet"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = {int(f.name.split("-")[1]) for f in tmp_path.glob("started-*")}
    assert len(workers) == 2
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert "2 running trial(s) went back to the queue" in err
    study = load_study("slow", f"sqlite:///{tmp_path}/nas.db")
    assert len(study.trials(TrialState.PENDING)) == 2 and not study.trials(TrialState.FAILED)
    time.sleep(1)
    assert not [w for w in workers if psutil.pid_exists(w) and psutil.Process(w).status() != psutil.STATUS_ZOMBIE]


def test_a_boot_abandoned_before_its_attempt_begins_starts_no_ray():
    """close() before the attempt thread runs: the attempt sees it and starts nothing, and
    the boot leaves the list of abandoned boots (nothing for a later start to wait on)."""
    from nas.executors import _ray_boot

    boot = _ray_boot.RayBoot(num_cpus=1)
    boot.close()  # abandoned while not up
    boot.start()
    _ray_boot.join_abandoned(30)
    assert boot.up() and boot.session is None and boot.error is None
    assert boot not in _ray_boot._ABANDONED and not any(t.is_alive() for t in boot._attempts)
