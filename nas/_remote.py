"""The CLI's ``--server URL`` mode: the same commands and output formats, over the HTTP API."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from nas import _output
from nas.client import Client, ClientError
from storage import StudySummary, Trial, TrialState


def _client(args: argparse.Namespace) -> Client:
    return Client(args.server)


def _study_like(status: dict[str, Any]) -> Any:
    """What the table/CSV printers read from a study: its name and objectives."""
    objs = [SimpleNamespace(name=o["name"], direction=o["direction"]) for o in status["objectives"]]
    return SimpleNamespace(name=status["name"], objectives=objs)


def trial_from_json(d: dict[str, Any]) -> Trial:
    return Trial(
        id=-1,
        number=d["number"],
        state=TrialState(d["state"]),
        params=d["params"],
        values=d.get("values"),
        metrics=d.get("metrics") or {},
        error=d.get("error"),
        attempt=d.get("attempt", 0),
        worker_id=d.get("worker_id"),
        started_at=_dt(d.get("started_at")),
        finished_at=_dt(d.get("finished_at")),
        is_pareto=d.get("is_pareto", False),
        feasible=d.get("feasible", True),
    )


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def cmd_run(args: argparse.Namespace) -> int:
    from nas.spec import load_spec_file

    c = _client(args)
    status = c.submit(load_spec_file(args.spec))
    print(f"submitted {status['name']} to {c.url}", file=sys.stderr)
    return _follow(c, status["name"], args.quiet)


def cmd_resume(args: argparse.Namespace) -> int:
    c = _client(args)
    c.resume(args.name)
    return _follow(c, args.name, args.quiet)


def _follow(c: Client, name: str, quiet: bool) -> int:
    """Wait for the study, printing progress; Ctrl-C leaves it running on the server."""

    def show(s: dict[str, Any]) -> None:
        if not quiet:
            n = s["counts"]
            print(
                f"\r{name}: {s['state']} {s['complete']}/{s['budget']} complete, {n.get('FAILED', 0)} failed,"
                f" {n.get('RUNNING', 0)} running   ",
                end="",
                file=sys.stderr,
                flush=True,
            )

    try:
        status = c.wait(name, poll_s=1.0, on_update=show)
    except KeyboardInterrupt:
        print(f"\nstopped watching: {name} keeps running on the server", file=sys.stderr)
        return 130
    if not quiet:
        print(file=sys.stderr)
    study = _study_like(status)
    front = [trial_from_json(t) for t in c.pareto(name)]
    _output.print_table(study, _output.by_first_objective(study, front), f"Pareto front of {name}")
    if status["state"] == "failed":
        print(f"error: {status['error']}", file=sys.stderr)
        return 1
    all_failed = status["counts"].get("FAILED", 0) and not status["complete"]
    return 1 if all_failed or status["state"] != "complete" else 0


def cmd_pareto(args: argparse.Namespace) -> int:
    c = _client(args)
    status = c.study(args.name)
    front = [trial_from_json(t) for t in c.pareto(args.name)]
    study = _study_like(status)
    front = _output.in_order(study, front)
    _output.print_trials(study, front, args.format, title=f"Pareto front of {args.name}")
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    c = _client(args)
    status = c.study(args.name)
    trials = [trial_from_json(t) for t in c.trials(args.name, args.state)]
    _output.print_trials(_study_like(status), trials, args.format, title=f"Trials of {args.name}")
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    rows = [
        StudySummary(s["name"], s["budget"], datetime.fromisoformat(s["created_at"]), s["counts"], s["space"])
        for s in _client(args).studies()
    ]
    if args.format == "json":
        print(json.dumps([_output.summary_json(r) for r in rows], indent=1))
    else:
        _output.print_studies(rows)
    return 0


HANDLERS = {"run": cmd_run, "resume": cmd_resume, "pareto": cmd_pareto, "trials": cmd_trials, "studies": cmd_studies}

__all__ = ["HANDLERS", "ClientError", "trial_from_json"]
