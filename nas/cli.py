"""The ``nas`` command line. Read commands (pareto, trials, studies, spaces) load no torch or ray.

Exit status: 0 done; 1 the run ended with no completed trial (every trial of the run
failed, or the study has failures and no result); 2 a usage, spec or storage error,
reported in one line before anything is written; 130 interrupted (SIGINT or SIGTERM),
with the running trials handed back to the queue for ``nas resume``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Libraries whose warnings (GP jitter, optimizer restarts) go to the debug log, not the terminal.
QUIET_LOGGERS = ("botorch", "gpytorch", "linear_operator", "ray")


class CLIError(Exception):
    """A user-facing error: printed as one message, exit status 2."""


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        default=None,
        help="database URL (default: $NAS_STORAGE or sqlite:///nas.db), e.g. "
        "postgresql+psycopg://user@host:5432/db",
    )


def _server_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=None, metavar="URL",
                   help="talk to a `nas serve` at URL (token: $NAS_API_TOKEN) instead of the storage")


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=["local", "ray"], default=None, help="override the spec's executor")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (ray executor)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join from one of its nodes: auto, or the head's host:port")
    p.add_argument("--trial-timeout", type=float, default=None, metavar="SECONDS",
                   help="end an evaluation (and its worker process) after this long; it FAILs (spec: trial_timeout_s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nas", description="Neural architecture search studies in SQL.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="validate a spec (YAML/JSON), create its study and run it to the budget")
    p.add_argument("spec")
    _storage_arg(p)
    _executor_args(p)
    _server_arg(p)

    p = sub.add_parser("resume", help="continue a stored study to exactly its budget")
    p.add_argument("name")
    _storage_arg(p)
    _executor_args(p)
    _server_arg(p)

    for cmd, what in (("pareto", "the Pareto front of a study"), ("trials", "the trials of a study")):
        p = sub.add_parser(cmd, help=what)
        p.add_argument("name")
        p.add_argument("--format", choices=["table", "json", "csv"], default="table")
        _storage_arg(p)
        _server_arg(p)
        if cmd == "trials":
            p.add_argument("--state", default=None, help="pending, running, complete, failed or stopped")

    p = sub.add_parser("steps", help="a trial's per-step reports (its learning curve) and the scheduler's decisions")
    p.add_argument("name")
    p.add_argument("number", type=int, help="the trial number")
    p.add_argument("--format", choices=["table", "json"], default="table")
    _storage_arg(p)

    p = sub.add_parser("studies", help="list stored studies")
    p.add_argument("--format", choices=["table", "json"], default="table")
    _storage_arg(p)
    _server_arg(p)

    from nas.service.cli import add_parser as add_serve_parser

    add_serve_parser(sub)

    p = sub.add_parser("spaces", help="list the search spaces")
    _storage_arg(p)  # accepted for symmetry (every command takes --storage); spaces live in code

    p = sub.add_parser("sensitivity", help="per-layer sensitivity report (hawq: Hessian traces, Ω, ILP bit "
                                           "suggestions; wpca: FFN widths and PCA counts; psigmoid: G-Search)")
    p.add_argument("--space", default="hawq", choices=["hawq", "wpca", "psigmoid"],
                   help="the space whose model is analysed")
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
    p.add_argument("--gsearch", action="store_true",
                   help="psigmoid: G-Search's fewest tokens per layer within --tolerance of the unreduced accuracy")
    p.add_argument("--tolerance", type=float, default=0.01, help="psigmoid --gsearch: accuracy drop allowed")

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
    if argv is None:
        _hide_storage_password(sys.argv[1:])
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    signal.signal(signal.SIGTERM, _interrupt)
    if os.getcwd() not in sys.path:  # `module:function` evaluators import from here, on every executor
        sys.path.insert(0, os.getcwd())
    handler = {
        "run": cmd_run,
        "resume": cmd_resume,
        "pareto": cmd_pareto,
        "trials": cmd_trials,
        "steps": cmd_steps,
        "studies": cmd_studies,
        "spaces": cmd_spaces,
        "sensitivity": cmd_sensitivity,
        "importance": cmd_importance,
        "db": cmd_db,
        "serve": cmd_serve,
    }[args.command]
    if getattr(args, "server", None):
        from nas._remote import HANDLERS

        handler = HANDLERS[args.command]
    try:
        return handler(args) or 0
    except KeyboardInterrupt:
        print("interrupted: finished trials are stored", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `nas trials NAME | head`: the reader left; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        message = _user_message(e, getattr(args, "storage", None))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE


def _hide_storage_password(args: list[str]) -> None:
    """A password in ``--storage URL`` would show in ``ps`` for as long as the run lasts:
    re-execute this process (same pid) with the URL moved into ``$NAS_STORAGE``."""
    for i, arg in enumerate(args):
        value, flag = (args[i + 1], 2) if arg == "--storage" and i + 1 < len(args) else (None, 0)
        if arg.startswith("--storage="):
            value, flag = arg.split("=", 1)[1], 1
        if value and _has_password(value):
            rest = args[:i] + args[i + flag :]
            env = {**os.environ, "NAS_STORAGE": value}
            os.execve(sys.executable, [sys.executable, "-m", "nas.cli", *rest], env)


def _has_password(url: str) -> bool:
    """``scheme://user:password@host...`` (a regex: nothing heavy is imported before the exec)."""
    import re

    return re.match(r"^[\w+.-]+://[^/@:]*:[^/@]+@", url) is not None


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C: trials handed back, one line, exit 130."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _quiet_libraries() -> None:
    import warnings

    log = logging.getLogger("nas.warnings")

    def to_debug_log(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                     file: Any = None, line: str | None = None) -> None:
        log.debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)

    warnings.showwarning = to_debug_log
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _user_message(e: Exception, storage: str | None) -> str | None:
    """The one line to print for an error a user can fix, or None for a bug (traceback)."""
    from nas.client import ClientError
    from nas.spec import SpecError
    from nas.study import BudgetError, TellError
    from storage import SchemaError, StorageURLError, StoreError

    user_errors = (CLIError, ClientError, SpecError, TellError, BudgetError, StoreError, StorageURLError, SchemaError)
    if isinstance(e, user_errors):
        return _mask(str(e), storage)
    from nas import _errors

    return _errors.storage_message(e, storage)


def _mask(text: str, storage: str | None) -> str:
    from nas._errors import mask_secrets

    return mask_secrets(text, storage)


def cmd_run(args: argparse.Namespace) -> int:
    from nas.spec import load_spec_file, validate_study_spec
    from nas.study import create_study

    data = load_spec_file(args.spec)
    if args.trial_timeout is not None:
        data["trial_timeout_s"] = args.trial_timeout
    spec, space, _ = validate_study_spec(data)
    _check_runnable(spec, space, args)  # before the study row is written
    study = create_study(spec, storage=args.storage)
    return _drive(study, args)


def cmd_resume(args: argparse.Namespace) -> int:
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage)  # never creates a missing database
    if args.trial_timeout is not None:
        study.spec.trial_timeout_s = args.trial_timeout
    _check_runnable(study.spec, study.space, args)
    return _drive(study, args)


def _check_runnable(spec: Any, space: Any, args: argparse.Namespace) -> None:
    """Refuse what cannot run at all: no evaluator, one that does not import, bad workers or address."""
    if args.trial_timeout is not None and not args.trial_timeout > 0:
        raise CLIError(f"--trial-timeout {args.trial_timeout:g}: give a number of seconds > 0")
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers {args.workers}: must be at least 1")
    if spec.space.name == "custom":
        from search_spaces.custom import EvaluatorError

        if not spec.space.evaluator:
            raise CLIError(
                "space 'custom' has no evaluator, so nas run has nothing to evaluate: set space.evaluator: "
                "module:function, or drive the study from Python with study.ask() / study.tell()"
            )
        try:
            space.load_evaluator()
        except EvaluatorError as e:
            raise CLIError(f"space.evaluator: {e}") from None
    if (args.executor or spec.executor.name) == "ray":
        from nas.executors.address import AddressError, check_address

        try:
            check_address(args.address or spec.executor.address)
        except AddressError as e:
            raise CLIError(str(e)) from None


def _drive(study: Any, args: argparse.Namespace) -> int:
    from nas import _output
    from nas.executors import make_executor

    overrides = {k: v for k, v in (("name", args.executor), ("workers", args.workers),
                                   ("address", args.address)) if v is not None}
    executor = make_executor(study.spec.executor, **overrides)
    reaped = study.reap()
    for failed, retry in reaped:
        again = f"re-queued as #{retry.number}" if retry else "not retried (max_retries reached)"
        print(f"trial #{failed.number} was left running by a dead worker: {again}", file=sys.stderr)
    outcome = _output.RunOutcome()
    try:
        with _output.progress_bar(study, quiet=args.quiet) as bar:
            study.optimize(executor=executor, progress=outcome.observer(bar))
    except KeyboardInterrupt:
        back = study.release()
        print(f"interrupted: finished trials are stored, {back} running trial(s) went back to the queue; "
              f"continue with: nas resume {study.name}{_storage_flag(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    _output.print_summary(study, outcome)
    return EXIT_FAILED if outcome.failed_run(study.counts()) else 0


def _storage_flag(args: argparse.Namespace) -> str:
    from storage.engine import mask_url

    return f" --storage {mask_url(args.storage)}" if args.storage else ""


def cmd_pareto(args: argparse.Namespace) -> int:
    from nas import _output
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage, readonly=True)
    front = _output.in_order(study, study.pareto_front())
    _output.print_trials(study, front, args.format, title=f"Pareto front of {study.name}")
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    from nas import _output
    from nas.study import load_study

    state = args.state.upper() if args.state else None
    if state and state not in ("PENDING", "RUNNING", "COMPLETE", "FAILED", "STOPPED"):
        raise CLIError(f"--state {args.state!r}: choose pending, running, complete, failed or stopped")
    study = load_study(args.name, storage=args.storage, readonly=True)
    _output.print_trials(study, study.trials(state), args.format, title=f"Trials of {study.name}")
    return 0


def cmd_steps(args: argparse.Namespace) -> int:
    from nas import _output
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage, readonly=True)
    trial = study.store.trial_by_number(study.id, args.number)
    if trial is None:
        raise CLIError(f"study {study.name!r} has no trial number {args.number} (see: nas trials {study.name})")
    _output.print_steps(study, trial.number, study.store.steps(trial.id), args.format)
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    from nas import _output
    from storage import Store

    rows = Store(args.storage, readonly=True).list_studies()
    if args.format == "json":
        print(json.dumps([_output.summary_json(r) for r in rows], indent=1))
    else:
        _output.print_studies(rows)
    return 0


def cmd_spaces(args: argparse.Namespace) -> int:
    from nas import _output
    from search_spaces.base import space_summaries

    _output.print_spaces(space_summaries())
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from rich.console import Console

    from nas.sensitivity import DEFAULT_BUDGETS, render_suggestions, render_table, sensitivity_report
    from search_spaces import SpaceError

    options = dict(_key_value(o, "--option") for o in args.option)
    if args.gsearch or args.space == "psigmoid":
        return _gsearch(args, options)
    if args.space == "wpca":
        return _wpca_sensitivity(options, args)
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


def _gsearch(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from rich.console import Console

    from nas.token_sensitivity import gsearch, render_gsearch, report_json, summary
    from search_spaces import SpaceError

    if args.space != "psigmoid" or not args.gsearch:
        raise CLIError("G-Search is the psigmoid space's report: use --space psigmoid --gsearch")
    if not 0 <= args.tolerance < 1:
        raise CLIError(f"--tolerance {args.tolerance}: an accuracy drop in [0, 1), e.g. 0.01")
    try:
        report = gsearch(options, args.tolerance)
    except SpaceError as e:
        raise CLIError(str(e)) from None
    if args.format == "json":
        print(json.dumps(report_json(report), indent=1))
    else:
        console = Console(width=max(140, Console().width))
        console.print(summary(report))
        console.print(render_gsearch(report))

def _wpca_sensitivity(items: dict[str, Any], args: argparse.Namespace) -> int:
    from rich.console import Console

    from nas.wpca_report import render, wpca_report
    from search_spaces import SpaceError

    try:
        report = wpca_report(items, png_path=args.png)
    except SpaceError as e:
        raise CLIError(str(e)) from None
    if args.format == "json":
        print(json.dumps(report, indent=1))
        return 0
    Console(width=max(100, Console().width)).print(render(report))
    print(f"chart: {report['png_path']}", file=sys.stderr)
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


def cmd_serve(args: argparse.Namespace) -> int:
    from nas.service.cli import cmd_serve as serve

    return serve(args)

def cmd_importance(args: argparse.Namespace) -> int:
    from nas import _importance_view
    from nas.importance import ImportanceError
    from nas.study import load_study

    study = load_study(args.name, storage=args.storage, readonly=True)
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


def entry() -> None:
    """The ``nas`` command: :func:`main`, then a quick exit.

    Tearing down the interpreter (every module of Ray, SQLAlchemy, pydantic, ...) costs
    about 0.3 s after the work is done; once the exit handlers have run and the output is
    flushed there is nothing left to save, so the process ends at once. A command that left
    a non-daemon thread running exits the ordinary way, which waits for it.
    """
    code = main()
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
