"""The ``nas`` command line. Read commands (pareto, trials, studies) load no torch or ray."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from nas import _output

EXIT_USAGE = 2


class CLIError(Exception):
    """A user-facing error: printed as one message, exit status 2."""


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        default=None,
        help="database URL (default: $NAS_STORAGE or sqlite:///nas.db), e.g. "
        "postgresql+psycopg://user@host:5432/db",
    )


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=["local", "ray"], default=None, help="override the spec's executor")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (ray executor)")
    p.add_argument("--address", default=None, help="Ray cluster to join: auto or ray://host:port")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nas", description="Neural architecture search studies in SQL.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="validate a spec (YAML/JSON), create its study and run it to the budget")
    p.add_argument("spec")
    _storage_arg(p)
    _executor_args(p)

    p = sub.add_parser("resume", help="continue a stored study to exactly its budget")
    p.add_argument("name")
    _storage_arg(p)
    _executor_args(p)

    for cmd, what in (("pareto", "the Pareto front of a study"), ("trials", "the trials of a study")):
        p = sub.add_parser(cmd, help=what)
        p.add_argument("name")
        p.add_argument("--format", choices=["table", "json", "csv"], default="table")
        _storage_arg(p)
        if cmd == "trials":
            p.add_argument("--state", default=None, help="pending, running, complete or failed")

    p = sub.add_parser("studies", help="list stored studies")
    p.add_argument("--format", choices=["table", "json"], default="table")
    _storage_arg(p)

    sub.add_parser("spaces", help="list the search spaces")

    p = sub.add_parser("sensitivity", help="per-layer sensitivity report (Hessian traces, Ω, ILP bit suggestions)")
    p.add_argument("--space", default="hawq", choices=["hawq"], help="the space whose model is analysed")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a space option, e.g. task=mnist1d or model=pkg.mod:build (repeatable; YAML values)")
    p.add_argument("--budget", action="append", default=[], metavar="COST=FRACTION[,COST=FRACTION]",
                   help="an ILP budget as fractions of the 8-bit cost, e.g. size_mb=0.5 or size_mb=0.5,bops=0.3 "
                        "(repeatable; default 0.375, 0.5, 0.625, 0.75 of size)")
    p.add_argument("--tie", action="append", default=[], metavar="LAYER,LAYER",
                   help="layers that must share a bit-width (repeatable)")
    p.add_argument("--png", default="sensitivity.png", help="where to write the bar chart (default %(default)s)")
    p.add_argument("--select", choices=["measured", "omega"], default="measured",
                   help="each budget's suggestion: the most accurate on validation data of the ILP's near-optimal "
                        "candidates (measured, default) or the ILP's Ω optimum alone (omega)")
    p.add_argument("--no-eigenvalues", action="store_true", help="skip the power iteration (faster)")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("importance", help="which parameters drive each objective (Sobol indices on a GP surrogate)")
    p.add_argument("name")
    p.add_argument("--objective", default=None, help="one objective (default: each)")
    p.add_argument("--method", choices=["sobol", "fanova"], default="sobol",
                   help="sobol: SALib on GP posterior samples (default); fanova: on a random forest's trees")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--png", default=None, help="write a bar chart with intervals, one panel per objective")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=16, help="posterior functions (sobol); fanova grows 4x as many trees")
    p.add_argument("--base", type=int, default=1024, help="Saltelli base N, a power of two (N·(d+2) points)")
    _storage_arg(p)

    p = sub.add_parser("db", help="database maintenance")
    dsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="migrate the schema to this version")
    _storage_arg(up)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "run": cmd_run,
        "resume": cmd_resume,
        "pareto": cmd_pareto,
        "trials": cmd_trials,
        "studies": cmd_studies,
        "spaces": cmd_spaces,
        "sensitivity": cmd_sensitivity,
        "importance": cmd_importance,
        "db": cmd_db,
    }[args.command]
    try:
        return handler(args) or 0
    except KeyboardInterrupt:
        print("interrupted: finished trials are stored; `nas resume` continues", file=sys.stderr)
        return 130
    except Exception as e:
        if _is_user_error(e):
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        raise


def _is_user_error(e: Exception) -> bool:
    from nas.spec import SpecError
    from nas.study import TellError
    from storage import SchemaError, StorageURLError, StudyExistsError, StudyNotFoundError

    user_errors = (CLIError, SpecError, TellError, StudyExistsError, StudyNotFoundError, StorageURLError,
                   SchemaError)
    return isinstance(e, user_errors)


def cmd_run(args: argparse.Namespace) -> int:
    from nas.spec import load_spec_file
    from nas.study import create_study

    study = create_study(load_spec_file(args.spec), storage=args.storage)
    return _drive(study, args)


def cmd_resume(args: argparse.Namespace) -> int:
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage)
    return _drive(study, args)


def _drive(study: Any, args: argparse.Namespace) -> int:
    from nas.executors import make_executor

    overrides = {k: v for k, v in (("name", args.executor), ("workers", args.workers),
                                   ("address", args.address)) if v is not None}
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers {args.workers}: must be at least 1")
    executor = make_executor(study.spec.executor, **overrides)
    reaped = study.reap()
    for failed, retry in reaped:
        again = f"re-queued as #{retry.number}" if retry else "not retried (max_retries reached)"
        print(f"trial #{failed.number} was left running by a dead worker: {again}", file=sys.stderr)
    with _output.progress_bar(study, quiet=args.quiet) as progress:
        study.optimize(executor=executor, progress=progress)
    _output.print_summary(study)
    return 0


def cmd_pareto(args: argparse.Namespace) -> int:
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage)
    front = study.pareto_front()
    if args.format == "table":
        front = _output.by_first_objective(study, front)
    _output.print_trials(study, front, args.format, title=f"Pareto front of {study.name}")
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage)
    state = args.state.upper() if args.state else None
    if state and state not in ("PENDING", "RUNNING", "COMPLETE", "FAILED"):
        raise CLIError(f"--state {args.state!r}: choose pending, running, complete or failed")
    _output.print_trials(study, study.trials(state), args.format, title=f"Trials of {study.name}")
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    from storage import Store

    rows = Store(args.storage).list_studies()
    if args.format == "json":
        print(json.dumps([_output.summary_json(r) for r in rows], indent=1))
    else:
        _output.print_studies(rows)
    return 0


def cmd_spaces(args: argparse.Namespace) -> int:
    from search_spaces.base import get_space_class, space_names

    rows = []
    for name in space_names():
        try:
            rows.append((name, get_space_class(name).summary))
        except Exception as e:  # a broken plug-in must not hide the others
            rows.append((name, f"(cannot load: {e})"))
    _output.print_spaces(rows)
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from rich.console import Console

    from nas.sensitivity import DEFAULT_BUDGETS, render_suggestions, render_table, sensitivity_report
    from search_spaces import SpaceError

    options = dict(_key_value(o, "--option") for o in args.option)
    budgets = [_budget(b) for b in args.budget] or list(DEFAULT_BUDGETS)
    ties = [[n.strip() for n in t.split(",") if n.strip()] for t in args.tie]
    try:
        report = sensitivity_report(options, budgets=budgets, ties=ties, png_path=args.png,
                                    eigenvalues=not args.no_eigenvalues, select=args.select)
    except SpaceError as e:
        raise CLIError(str(e)) from None
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=1))
        return 0
    console = Console(width=max(140, Console().width))
    console.print(render_table(report))
    console.print(render_suggestions(report))
    print(f"chart: {report.png_path}", file=sys.stderr)
    return 0


def _key_value(text: str, flag: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CLIError(f"{flag} {text!r}: write KEY=VALUE")
    return key.strip(), yaml.safe_load(value)


def _budget(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        key, value = _key_value(part, "--budget")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise CLIError(f"--budget {text!r}: {key}={value!r} must be a fraction in (0, 1]")
        out[key] = float(value)
    return out


def cmd_importance(args: argparse.Namespace) -> int:
    from nas import _importance_view
    from nas.importance import ImportanceError
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage)
    try:
        reports = study.importance(args.objective, args.method, seed=args.seed, samples=args.samples,
                                   trees=4 * args.samples, base=args.base)
    except ImportanceError as e:
        raise CLIError(str(e)) from None
    if args.png:
        print(f"chart: {_importance_view.plot(reports, args.png)}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps([r.to_json() for r in reports], indent=1))
        return 0
    from rich.console import Console

    for r in reports:
        Console(width=max(100, Console().width)).print(_importance_view.render_table(r))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from storage import resolve_url, upgrade
    from storage.engine import get_engine

    url = resolve_url(args.storage)
    rev = upgrade(get_engine(url, write=True))
    print(f"{url}: schema at revision {rev}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
