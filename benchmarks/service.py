"""HTTP service benchmark: Pareto reads under load at 100k trials, and time to a study's first trial.

    .venv/bin/python benchmarks/service.py      # writes benchmarks/results/service.json

- pareto: a ZDT1 study (4 params) with ``--trials`` (100,000) COMPLETE trials in a SQLite
  store, its Pareto flags set as ``tell`` keeps them. ``GET /studies/{name}/pareto`` from
  ``--clients`` (32) concurrent keep-alive loopback clients for ``--seconds`` (30 s), in a
  separate process (asyncio, raw HTTP/1.1), against a ``nas serve --no-ray``: p50/p99
  latency, requests/s, errors. Twice: with the server's front cache (the default, 1 s TTL,
  dropped at once when the server records a trial) and with it off (``--cache-ttl 0``:
  every request reads the maintained front from SQL). Peer: optuna-dashboard's API on the
  same trials, when the ``optuna_dashboard`` package is installed; it is reported missing
  otherwise.
- first trial: ``POST /studies`` of a 4-trial ZDT1 spec on the ``ray`` executor (2 workers)
  to a warm ``nas serve`` (its Ray up), against ``nas run`` of the same spec from a cold
  start (a new process: imports, Ray start-up, its warm-start subprocess). Measured from
  just before the request / the process start to the first trial's ``finished_at`` in the
  store (the synthetic evaluation takes microseconds, so that is when it ran), and to its
  creation as RUNNING (``started_at``). ``--repeats`` (3) each; medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.study import create_study, load_study  # noqa: E402
from search_spaces.synthetic import zdt  # noqa: E402
from storage import Store  # noqa: E402
from storage.models import TrialRow  # noqa: E402

TOKEN = "bench-token"
REQUEST_TIMEOUT_S = 60.0  # a request slower than this counts as an error
NAS = [sys.executable, "-m", "nas.cli"]


def spec(name: str, trials: int, executor: dict) -> dict:
    return {
        "name": name,
        "space": {"name": "synthetic", "options": {"problem": "zdt1", "dim": 4}},
        "optimizer": {"name": "random", "seed": 0},
        "budget": {"trials": trials},
        "executor": executor,
    }


# ---- filling the store -----------------------------------------------------------------


def front_mask_2d(Y: list[tuple[float, float]]) -> list[bool]:
    """Non-dominated points of a 2-D minimisation (sort and sweep; duplicates all kept)."""
    order = sorted(range(len(Y)), key=lambda i: Y[i])
    mask = [False] * len(Y)
    best, last = math.inf, None
    for i in order:
        if Y[i][1] < best or Y[i] == last:
            mask[i], best, last = True, min(best, Y[i][1]), Y[i]
    return mask


def _data(n: int, seed: int = 0) -> tuple[list[list[float]], list[tuple[float, float]]]:
    """``n`` uniform ZDT1 points in 4 dimensions (the same for us and the peer)."""
    import numpy as np

    rng = random.Random(seed)
    X = [[rng.random() for _ in range(4)] for _ in range(n)]
    return X, [tuple(float(v) for v in zdt(np.array(x), 1)) for x in X]


def fill(url: str, name: str, n: int, seed: int = 0) -> int:
    """A study with ``n`` COMPLETE trials inserted in bulk; returns the front size."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    study = create_study(spec(name, n, {"name": "local"}), storage=url)
    X, Y = _data(n, seed)
    mask = front_mask_2d(Y)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "study_id": study.id,
            "number": i,
            "state": "COMPLETE",
            "params_json": json.dumps({f"x{j}": v for j, v in enumerate(x)}),
            "values_json": json.dumps({"f1": y[0], "f2": y[1]}),
            "metrics_json": "{}",
            "attempt": 0,
            "requeued": False,
            "worker_id": "bench",
            "created_at": now,
            "started_at": now,
            "finished_at": now,
            "heartbeat_at": now,
            "is_pareto": m,
            "feasible": True,
        }
        for i, (x, y, m) in enumerate(zip(X, Y, mask, strict=True))
    ]
    with Session(Store(url)._w) as s, s.begin():
        for k in range(0, n, 10_000):
            s.execute(insert(TrialRow), rows[k : k + 10_000])
    front = load_study(name, url).pareto_front()
    assert len(front) == sum(mask)
    return len(front)


# ---- servers ---------------------------------------------------------------------------------


def serve(url: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NAS_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        [*NAS, "serve", "--port", str(port), "--storage", url, *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 180
    while time.monotonic() < end:
        try:
            h = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            if h["ray"] in ("off", "ready"):
                return p
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    p.kill()
    raise RuntimeError("nas serve did not come up")


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# ---- load ------------------------------------------------------------------------------------


async def _client(port: int, path: str, until: float, lat: list[float], errors: list[str]) -> None:
    """One client: keep-alive GETs of ``path`` until ``until``; reconnects when the server
    closes the connection (HTTP/1.0 servers), counting the reconnect in the latency."""
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    conn = None
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = conn
            writer.write(req)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=REQUEST_TIMEOUT_S)
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in lines[1:] if h)}
            if b"content-length" in hdrs:
                await reader.readexactly(int(hdrs[b"content-length"]))
            else:
                await reader.read()  # until the server closes
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(str(status))
            if lines[0].startswith(b"HTTP/1.0") or hdrs.get(b"connection", b"").lower() == b"close":
                writer.close()
                conn = None
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as e:
            errors.append(repr(e))
            conn = None
    if conn is not None:
        conn[1].close()


async def _load(port: int, path: str, clients: int, seconds: float) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    until = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*[_client(port, path, until, lat, errors) for _ in range(clients)])
    wall = time.perf_counter() - t0
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    return {
        "requests": len(lat),
        "errors": len(errors),
        "error_examples": errors[:3],
        "rps": len(lat) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": lat[-1] * 1000,
    }


def pareto_load(url: str, name: str, clients: int, seconds: float, *extra: str) -> dict:
    port = _free_port()
    p = serve(url, port, "--no-ray", *extra)
    try:
        httpx.get(f"http://127.0.0.1:{port}/studies/{name}/pareto", timeout=60)  # first read: not timed
        return asyncio.run(_load(port, f"/studies/{name}/pareto", clients, seconds))
    finally:
        stop(p)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- first trial ----------------------------------------------------------------------------


def _first(url: str, name: str, t0: datetime) -> dict:
    trials = load_study(name, url).trials()
    first_running = min(t.started_at for t in trials if t.started_at)
    first_done = min(t.finished_at for t in trials if t.finished_at)
    return {"to_running_s": (first_running - t0).total_seconds(), "to_first_done_s": (first_done - t0).total_seconds()}


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def warm_server(url: str, repeats: int, cpus: int) -> list[dict]:
    port = _free_port()
    p = serve(url, port, "--num-cpus", str(cpus))
    out = []
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as c:
            for i in range(repeats):
                name = f"warm-{i}"
                t0 = _utcnow()
                r = c.post("/studies", json=spec(name, 4, {"name": "ray", "workers": 2}))
                assert r.status_code == 201, r.text
                while c.get(f"/studies/{name}").json()["state"] == "running":
                    time.sleep(0.05)
                out.append(_first(url, name, t0))
    finally:
        stop(p)
    return out


def cold_run(url: str, repeats: int, workdir: Path) -> list[dict]:
    out = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for i in range(repeats):
        name = f"cold-{i}"
        path = workdir / f"{name}.json"
        path.write_text(json.dumps(spec(name, 4, {"name": "ray", "workers": 2})))
        t0 = _utcnow()
        w0 = time.perf_counter()
        subprocess.run(
            [*NAS, "run", str(path), "--storage", url, "--quiet"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out.append({**_first(url, name, t0), "wall_s": time.perf_counter() - w0})
    return out


PEER_SERVER = """
import sys
import optuna_dashboard
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
optuna_dashboard.run_server(JournalStorage(JournalFileBackend(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]))
"""


def peer_optuna_dashboard(n: int, clients: int, seconds: float, workdir: Path, pkgs: str | None) -> dict:
    """optuna-dashboard's study endpoint with ``after=n`` (its Pareto front, no trials) over the
    same trials in an Optuna journal file, from the same load generator."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (pkgs, str(ROOT)) if p)}
    probe = subprocess.run(
        [sys.executable, "-c", "import optuna_dashboard; print(optuna_dashboard.__version__)"],
        env=env,
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return {"missing": "the optuna_dashboard package is not importable here (try --peer-path DIR)"}
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = workdir / "optuna.journal"
    t = time.perf_counter()
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(storage=storage, study_name="big", directions=["minimize", "minimize"])
    dists = {f"x{j}": FloatDistribution(0.0, 1.0) for j in range(4)}
    X, Y = _data(n)
    study.add_trials(
        [
            optuna.trial.create_trial(params={f"x{j}": v for j, v in enumerate(x)}, distributions=dists, values=list(y))
            for x, y in zip(X, Y, strict=True)
        ]
    )
    fill_s = time.perf_counter() - t
    port = _free_port()
    p = subprocess.Popen(
        [sys.executable, "-c", PEER_SERVER, str(path), str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path_q = f"/api/studies/0?after={n}"
    try:
        end = time.monotonic() + 300
        while True:
            try:
                first = httpx.get(f"http://127.0.0.1:{port}{path_q}", timeout=300)  # loads the trials: not timed
                break
            except httpx.HTTPError:
                if time.monotonic() > end or p.poll() is not None:
                    raise
                time.sleep(0.5)
        front = len(first.json()["best_trials"])
        out = asyncio.run(_load(port, path_q, clients, seconds))
    finally:
        stop(p)
    server = "its own threaded wsgiref server (HTTP/1.0: a connection per request)"
    return {"version": probe.stdout.strip(), "server": server, "fill_s": fill_s, "front": front, **out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the warm server's local Ray")
    ap.add_argument("--peer-trials", type=int, default=10_000, help="store size for the optuna-dashboard comparison")
    ap.add_argument("--peer-path", default=None, help="a directory holding optuna_dashboard (pip install --target)")
    ap.add_argument("--skip-first-trial", action="store_true", help="only the Pareto-read part")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "service.json"))
    args = ap.parse_args()
    res: dict = {
        "settings": vars(args)
        | {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
            "storage": "SQLite",
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t = time.perf_counter()
        front = fill(url, "big", args.trials)
        res["store"] = {"trials": args.trials, "front": front, "fill_s": time.perf_counter() - t}
        print("store:", res["store"], flush=True)
        res["pareto_cached"] = pareto_load(url, "big", args.clients, args.seconds)
        print("pareto, cache on:", res["pareto_cached"], flush=True)
        res["pareto_uncached"] = pareto_load(url, "big", args.clients, args.seconds, "--cache-ttl", "0")
        print("pareto, cache off:", res["pareto_uncached"], flush=True)
        # Same size for both: optuna-dashboard over --peer-trials (filling its journal takes ~5 ms a
        # trial here), and ours over a fresh store of that size.
        fill(url, "same", args.peer_trials)
        res["pareto_cached_at_peer_size"] = pareto_load(url, "same", args.clients, args.seconds)
        print("pareto at the peer's size, cache on:", res["pareto_cached_at_peer_size"], flush=True)
        peer = peer_optuna_dashboard(args.peer_trials, args.clients, args.seconds, Path(tmp), args.peer_path)
        res["peer_optuna_dashboard"] = peer
        print("optuna-dashboard:", peer, flush=True)
        if args.skip_first_trial:
            Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
            return
        res["first_trial_warm_server"] = warm_server(url, args.repeats, args.cpus)
        print("warm server:", res["first_trial_warm_server"], flush=True)
        res["first_trial_cold_nas_run"] = cold_run(url, args.repeats, Path(tmp))
        print("cold nas run:", res["first_trial_cold_nas_run"], flush=True)
    for k in ("first_trial_warm_server", "first_trial_cold_nas_run"):
        res[k + "_median"] = {m: statistics.median(r[m] for r in res[k]) for m in res[k][0]}
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k.endswith("median")}, indent=1))


if __name__ == "__main__":
    main()
