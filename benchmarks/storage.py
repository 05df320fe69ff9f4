"""Storage benchmark: Pareto query and per-trial overhead, ours against Optuna 5's RDB storage.

For SQLite and PostgreSQL, on the same engine for both tools:
* fill a study with the same N completed 2-objective trials (default 10,000; the same
  params and values for both tools: ours inserted in bulk with the Pareto flags ``tell``
  keeps, Optuna's through ``add_trials``; the fill is not timed and the two fronts must
  have the same size);
* from a fresh process, time ``load_study(...).pareto_front()`` against
  ``optuna.load_study(...).best_trials`` (imports and the database driver loaded before
  the clock for both; opening the engine inside it for both; median of repeats), and the
  whole process (interpreter start to exit) side by side;
* time ask+tell per trial on the full study (random sampling on both sides, so the
  numbers measure the store, not the optimizer), and on an empty one (flatness).

    .venv/bin/python benchmarks/storage.py            # writes benchmarks/results/storage.json
    .venv/bin/python benchmarks/storage.py --trials 2000 --engines sqlite   # quicker
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder leads sys.path and its name would shadow the `storage` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
RESULTS = ROOT / "benchmarks" / "results"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def our_spec(name: str, trials: int) -> dict:
    return {"name": name, "budget": {"trials": trials}, "executor": {"name": "local"},
            "optimizer": {"name": "random", "seed": 0},
            "space": {"name": "custom", "params": {"x": {"type": "float", "low": 0, "high": 1},
                                                   "y": {"type": "float", "low": 0, "high": 1}}},
            "objectives": [{"name": "f1", "direction": "min"}, {"name": "f2", "direction": "min"}]}


def values_for(x: float, y: float) -> tuple[float, float]:
    return x, 1 - np.sqrt(x) + y


def points(n: int, seed: int = 0) -> list[tuple[float, float]]:
    """The ``(x, y)`` of the ``n`` trials both tools store: the same params and values for both."""
    rng = np.random.default_rng(seed)
    return [(float(x), float(y)) for x, y in rng.random((n, 2))]


def fill_ours(url: str, name: str, pts: list[tuple[float, float]]) -> None:
    """COMPLETE trials inserted in bulk with the Pareto flags ``tell`` would keep (the fill is
    not timed; the front size is checked against Optuna's on the same values)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from nas import create_study
    from nas.pareto import non_dominated_mask
    from storage import Store
    from storage.models import TrialRow

    study = create_study(our_spec(name, 10 * len(pts)), storage=url)
    Y = np.array([values_for(x, y) for x, y in pts])
    mask = non_dominated_mask(Y)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{"study_id": study.id, "number": i, "state": "COMPLETE", "params_json": json.dumps({"x": x, "y": y}),
             "values_json": json.dumps({"f1": float(f[0]), "f2": float(f[1])}), "metrics_json": "{}",
             "attempt": 0, "requeued": False, "worker_id": "bench", "created_at": now, "started_at": now,
             "finished_at": now, "heartbeat_at": now, "is_pareto": bool(m), "feasible": True}
            for i, ((x, y), f, m) in enumerate(zip(pts, Y, mask, strict=True))]
    with Session(Store(url)._w) as s, s.begin():
        for k in range(0, len(rows), 5_000):
            s.execute(insert(TrialRow), rows[k : k + 5_000])


def fill_optuna(url: str, name: str, pts: list[tuple[float, float]]) -> None:
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=url, directions=["minimize", "minimize"])
    dist = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
    trials = [optuna.trial.create_trial(params={"x": x, "y": y}, distributions=dist, values=list(values_for(x, y)))
              for x, y in pts]
    for k in range(0, len(trials), 500):
        study.add_trials(trials[k : k + 500])


QUERY = {
    "ours": ("from nas import load_study\n"
             "t = time.perf_counter(); front = load_study(NAME, storage=URL).pareto_front()\n"),
    "optuna": ("import optuna\noptuna.logging.set_verbosity(optuna.logging.WARNING)\n"
               "t = time.perf_counter(); front = optuna.load_study(study_name=NAME, storage=URL).best_trials\n"),
}


# Both tools load the same database driver before the clock starts: the timed part is
# opening the study (connecting) and reading its front, not Python imports.
PRELOAD = "import sqlalchemy.dialects.postgresql.psycopg, psycopg, sqlite3\n"


def fresh_query(tool: str, url: str, name: str) -> tuple[float, int, float]:
    """(seconds for load + front query, front size, whole-process seconds) in a new process."""
    code = (f"import time, json\n{PRELOAD}NAME, URL = {name!r}, {url!r}\n{QUERY[tool]}"
            "print(json.dumps([time.perf_counter() - t, len(front)]))\n")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    secs, size = json.loads(out.stdout.strip().splitlines()[-1])
    return secs, size, wall


def ask_tell_ours(url: str, name: str, k: int) -> list[float]:
    from nas import load_study

    study = load_study(name, storage=url)
    times = []
    for _ in range(k):
        t = time.perf_counter()
        (tr,) = study.ask(1)
        f1, f2 = values_for(tr.params["x"], tr.params["y"])
        study.tell(tr, values={"f1": f1, "f2": f2})
        times.append(time.perf_counter() - t)
    return times


def ask_tell_optuna(url: str, name: str, k: int) -> list[float]:
    import optuna

    study = optuna.load_study(study_name=name, storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    times = []
    for _ in range(k):
        t = time.perf_counter()
        tr = study.ask()
        x, y = tr.suggest_float("x", 0, 1), tr.suggest_float("y", 0, 1)
        study.tell(tr, list(values_for(x, y)))
        times.append(time.perf_counter() - t)
    return times


#: SQLite settings, the same for both tools: WAL journal, synchronous=FULL (our default; a
#: committed tell survives a power cut). Optuna's file is switched to WAL before it opens it
#: (the journal mode persists in the file); FULL is SQLite's own default, which Optuna keeps.
SQLITE_SETTINGS = "journal_mode=WAL, synchronous=FULL on both sides"


def engine_urls(engine: str, tmp: Path) -> dict[str, str]:
    if engine == "sqlite":
        import sqlite3

        with sqlite3.connect(tmp / "optuna.db") as c:
            c.execute("PRAGMA journal_mode=WAL")
        return {tool: f"sqlite:///{tmp}/{tool}.db" for tool in ("ours", "optuna")}
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    urls = {}
    with admin.connect() as c:
        for tool in ("ours", "optuna"):
            db = f"bench_{tool}_{uuid.uuid4().hex[:6]}"
            c.execute(text(f'CREATE DATABASE "{db}"'))
            urls[tool] = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
    return urls


def drop_pg(urls: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text

    from storage.engine import dispose_all

    dispose_all()
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for url in urls.values():
            c.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


def bench_engine(engine: str, n: int, repeats: int, k: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    urls = engine_urls(engine, tmp)
    name = "bench"
    out: dict = {"engine": engine, "trials": n, "settings": SQLITE_SETTINGS if engine == "sqlite" else
                 "PostgreSQL defaults (synchronous_commit=on) on both sides"}
    try:
        empty_ours = ask_tell_ours_fresh(urls["ours"], k)
        empty_optuna = ask_tell_optuna_fresh(urls["optuna"], k)
        pts = points(n)
        fill_ours(urls["ours"], name, pts)
        fill_optuna(urls["optuna"], name, pts)
        for tool in ("ours", "optuna"):
            runs = [fresh_query(tool, urls[tool], name) for _ in range(repeats)]
            out[f"pareto_s_{tool}"] = statistics.median(r[0] for r in runs)
            out[f"pareto_process_s_{tool}"] = statistics.median(r[2] for r in runs)
            out[f"front_size_{tool}"] = runs[0][1]
        if out["front_size_ours"] != out["front_size_optuna"]:
            raise RuntimeError(f"fronts differ on the same values: {out['front_size_ours']} against "
                               f"{out['front_size_optuna']}")
        out["ask_tell_ms_ours_full"] = 1e3 * statistics.median(ask_tell_ours(urls["ours"], name, k))
        out["ask_tell_ms_optuna_full"] = 1e3 * statistics.median(ask_tell_optuna(urls["optuna"], name, k))
        out["ask_tell_ms_ours_empty"] = 1e3 * statistics.median(empty_ours)
        out["ask_tell_ms_optuna_empty"] = 1e3 * statistics.median(empty_optuna)
    finally:
        if engine != "sqlite":
            drop_pg(urls)
    out["pareto_speedup"] = out["pareto_s_optuna"] / out["pareto_s_ours"]
    out["ask_tell_speedup_full"] = out["ask_tell_ms_optuna_full"] / out["ask_tell_ms_ours_full"]
    return out


def ask_tell_ours_fresh(url: str, k: int) -> list[float]:
    from nas import create_study

    create_study(our_spec("empty", 10 * k), storage=url)
    return ask_tell_ours(url, "empty", k)


def ask_tell_optuna_fresh(url: str, k: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="empty", storage=url, directions=["minimize", "minimize"])
    return ask_tell_optuna(url, "empty", k)


def table(rows: list[dict]) -> str:
    lines = [
        "| engine | trials | front | Pareto query, ours | Optuna `best_trials` | ratio | whole process, ours "
        "| whole process, Optuna | ask+tell ours (empty → full) | Optuna ask+tell (empty → full) | ratio (full) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['trials']:,} | {r['front_size_ours']} | {1e3 * r['pareto_s_ours']:.1f} ms | "
            f"{1e3 * r['pareto_s_optuna']:.0f} ms | {r['pareto_speedup']:.0f}× | "
            f"{r['pareto_process_s_ours']:.2f} s | {r['pareto_process_s_optuna']:.2f} s | "
            f"{r['ask_tell_ms_ours_empty']:.1f} → {r['ask_tell_ms_ours_full']:.1f} ms | "
            f"{r['ask_tell_ms_optuna_empty']:.1f} → {r['ask_tell_ms_optuna_full']:.1f} ms | "
            f"{r['ask_tell_speedup_full']:.1f}× |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5, help="fresh-process Pareto queries per tool")
    ap.add_argument("--asks", type=int, default=50, help="ask+tell calls timed per tool and size")
    ap.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"])
    args = ap.parse_args()
    rows = []
    for engine in args.engines:
        print(f"[{engine}] filling {args.trials} trials per tool ...", file=sys.stderr)
        rows.append(bench_engine(engine, args.trials, args.repeats, args.asks))
        print(json.dumps(rows[-1], indent=1), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "storage.json").write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
