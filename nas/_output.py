"""Terminal output of the CLI: tables, JSON, CSV and the live progress bar."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.pareto import hypervolume, non_dominated_mask, reference_point
from storage import StudySummary, Trial, TrialStep

if TYPE_CHECKING:
    from nas.study import Study


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def last_line(text: str | None) -> str:
    """The last non-empty line of an error (where the reason is), or "" for none."""
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def in_order(study: Study, front: Sequence[Trial]) -> list[Trial]:
    """The one order of a Pareto front in every format (table, JSON, CSV): best first along
    the first objective, ties by trial number, so it reads as a trade-off curve.
    Trial lists are ordered by trial number."""
    return by_first_objective(study, front)


def by_first_objective(study: Study, trials: Sequence[Trial]) -> list[Trial]:
    """Best first along the first objective: a front reads as a trade-off curve."""
    first = study.objectives[0]
    sign = 1.0 if first.direction == "min" else -1.0
    return sorted(trials, key=lambda t: (sign * (t.values or {}).get(first.name, float("inf")), t.number))


def print_trials(study: Study, trials: Sequence[Trial], fmt: str, title: str = "") -> None:
    if fmt == "json":
        print(json.dumps([t.to_json() for t in trials], indent=1))
    elif fmt == "csv":
        write_csv(study, trials)
    else:
        print_table(study, trials, title)


def write_csv(study: Study, trials: Sequence[Trial], out: Any = None) -> None:
    """The ``--format csv`` table (also the service's CSV): to ``out``, default stdout."""
    objs = [o.name for o in study.objectives]
    pnames = sorted({k for t in trials for k in t.params})
    w = csv.writer(out if out is not None else sys.stdout)
    w.writerow(["number", "state", *objs, *pnames, "is_pareto", "last_step", "error"])
    for t in trials:
        vals = [(t.values or {}).get(o, "") for o in objs]
        w.writerow([t.number, t.state.value, *vals, *[t.params.get(p, "") for p in pnames],
                    t.is_pareto, "" if t.last_step is None else t.last_step, last_line(t.error)])


def print_table(study: Study, trials: Sequence[Trial], title: str) -> None:
    """Objectives with their direction (↓ minimised, ↑ maximised); in a trial list, the
    ``pareto`` column marks the trials on the front."""
    from rich.console import Console
    from rich.table import Table

    arrows = {"min": "↓", "max": "↑"}
    marks = not all(t.is_pareto for t in trials)  # a front needs no marks
    table = Table(title=title or None, show_lines=False)
    steps = any(t.last_step is not None for t in trials)  # a multi-fidelity study: show the last step
    table.add_column("#", justify="right")
    table.add_column("state")
    if steps:
        table.add_column("step", justify="right")
    for o in study.objectives:
        table.add_column(f"{o.name} {arrows[o.direction]}", justify="right")
    if marks:
        table.add_column("pareto")
    table.add_column("params", overflow="fold")
    for t in trials:
        vals = [_fmt((t.values or {}).get(o.name, "")) for o in study.objectives]
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
        step = [str(t.last_step) if t.last_step is not None else ""] if steps else []
        table.add_row(str(t.number), t.state.value, *step, *vals,
                      *(["yes" if t.is_pareto else ""] if marks else []), params)
    Console(width=max(120, Console().width)).print(table)


def print_steps(study: Study, number: int, steps: Sequence[TrialStep], fmt: str) -> None:
    """A trial's curve: one row per ``ctx.step`` report with the scheduler's decision."""
    if fmt == "json":
        print(json.dumps([s.to_json() for s in steps], indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    arrows = {"min": "↓", "max": "↑"}
    table = Table(title=f"Steps of trial #{number} of {study.name}")
    table.add_column("step", justify="right")
    for o in study.objectives:
        table.add_column(f"{o.name} {arrows[o.direction]}", justify="right")
    table.add_column("decision")
    for s in steps:
        table.add_row(str(s.step), *[_fmt(s.values.get(o.name, "")) for o in study.objectives], s.decision or "")
    Console(width=max(100, Console().width)).print(table)


def summary_json(s: StudySummary) -> dict[str, Any]:
    return {"name": s.name, "space": s.space, "budget": s.budget, "created_at": s.created_at.isoformat(),
            "counts": s.counts, "complete": s.counts.get("COMPLETE", 0)}


def print_studies(rows: Sequence[StudySummary]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Studies", min_width=100)
    for col in ("name", "space", "complete / budget", "running", "pending", "failed", "created"):
        table.add_column(col)
    for s in rows:
        c = s.counts
        created = s.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(s.name, s.space, f"{c.get('COMPLETE', 0)} / {s.budget}", str(c.get("RUNNING", 0)),
                      str(c.get("PENDING", 0)), str(c.get("FAILED", 0)), created)
    Console(width=max(120, Console().width)).print(table)


def print_spaces(rows: Sequence[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Search spaces")
    table.add_column("name")
    table.add_column("what it searches")
    for name, summary in rows:
        table.add_row(name, summary)
    Console().print(table)


class RunOutcome:
    """What one ``nas run``/``resume`` produced, counted as its trials finish."""

    def __init__(self) -> None:
        self.complete = 0
        self.failed = 0

    def observer(self, bar: Any) -> Any:
        """A progress callback counting outcomes, then updating the bar (None when quiet)."""

        def seen(study: Study, t: Trial) -> None:
            self.complete += t.state.value == "COMPLETE"
            self.failed += t.state.value == "FAILED"
            if bar is not None:
                bar(study, t)

        return seen

    def failed_run(self, counts: dict[str, int]) -> bool:
        """Exit non-zero: every trial of this run failed, or the study has failures and no result."""
        if self.failed and not self.complete:
            return True
        return counts.get("COMPLETE", 0) == 0 and counts.get("FAILED", 0) > 0


def most_common_error(trials: Sequence[Trial]) -> tuple[str, int] | None:
    """The most frequent last line of the failed trials' errors, and how many share it."""
    import re
    from collections import Counter

    examples: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    for t in trials:
        if t.state.value == "FAILED" and t.error:
            line = last_line(t.error)
            kind = re.sub(r"\d+", "N", line.split("; re-queued")[0].split("; gave up")[0])
            examples.setdefault(kind, line)
            kinds[kind] += 1
    if not kinds:
        return None
    kind, n = kinds.most_common(1)[0]
    return examples[kind], n


def print_summary(study: Study, outcome: RunOutcome | None = None) -> None:
    """The closing lines of a run: the budget as counted (see README, "Budget"), the most
    common error, and the Pareto front."""
    trials = study.trials()
    counts = study.counts()
    requeued = sum(t.requeued for t in trials)
    front = study.pareto_front()
    hv = study.hypervolume_history()
    hv_txt = f", hypervolume {hv[-1][1]:.6g}" if hv else ""
    failed = counts.get("FAILED", 0)
    retried = f" ({requeued} of them retried)" if requeued else ""
    stopped = f", {counts['STOPPED']} stopped early" if counts.get("STOPPED") else ""
    print(f"study {study.name}: {study.used()} of budget {study.budget} used: {counts.get('COMPLETE', 0)} complete"
          f"{stopped}, {failed} failed{retried}; Pareto front {len(front)} trial(s){hv_txt}", file=sys.stderr)
    if outcome is not None and (outcome.complete or outcome.failed):
        print(f"this run: {outcome.complete} complete, {outcome.failed} failed", file=sys.stderr)
    common = most_common_error(trials)
    if common:
        print(f"most common error ({common[1]} of {failed} failed): {common[0]}", file=sys.stderr)
    if front:
        print_table(study, by_first_objective(study, front), f"Pareto front of {study.name}")


class _Tracker:
    """Keeps the Pareto front and the per-objective bounds seen so far, so the bar shows
    front size and hypervolume without rereading every trial."""

    def __init__(self, study: Study) -> None:
        from nas.pareto import signs

        self.study = study
        self.s = signs(study.directions)
        self.names = [o.name for o in study.objectives]
        done = self._rows([t for t in study.trials("COMPLETE") if t.feasible])
        self.lo, self.hi = done.min(axis=0, initial=np.inf), done.max(axis=0, initial=-np.inf)
        self.front = self._rows(study.pareto_front())

    def _rows(self, trials: Sequence[Trial]) -> np.ndarray:
        Y = np.array([[t.values[n] for n in self.names] for t in trials if t.values], dtype=float)
        return Y.reshape(-1, len(self.names)) * self.s

    def add(self, t: Trial) -> tuple[int, float]:
        if t.state.value == "COMPLETE" and t.feasible and t.values:
            y = self._rows([t])
            self.lo, self.hi = np.minimum(self.lo, y[0]), np.maximum(self.hi, y[0])
            both = np.vstack([self.front, y])
            self.front = both[non_dominated_mask(both)]
        if not len(self.front):
            return 0, 0.0
        ref = reference_point(np.vstack([self.lo, self.hi]), [o.ref for o in self.study.objectives],
                              self.study.directions)
        return len(self.front), hypervolume(self.front, ref)


@contextmanager
def progress_bar(study: Study, quiet: bool = False) -> Iterator[Any]:
    """A rich progress bar on stderr: trials done, Pareto size and hypervolume."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    tracker = _Tracker(study)
    with Progress(
        TextColumn(f"[bold]{study.name}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("pareto {task.fields[front]}  HV {task.fields[hv]}  failed {task.fields[failed]}"
                   "{task.fields[stopped]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
    ) as bar:
        # the bar counts trials (a STOPPED one counts like a complete one, a promoted one once:
        # see README "Multi-fidelity"); the counts are read from the store, as a promotion
        # takes a trial out of the stopped ones
        task = bar.add_task("trials", total=study.budget, front="-", hv="-", **_bar_counts(study))

        def update(_study: Study, t: Trial) -> None:
            size, hv = tracker.add(t)
            bar.update(task, front=size, hv=f"{hv:.4g}", **_bar_counts(study))

        yield update


def _bar_counts(study: Study) -> dict[str, Any]:
    """The bar's ``completed`` (trials that ended at least once: every one counted against
    the budget but the RUNNING or PENDING ones that have not; a promoted trial, queued
    again, still counts) and its ``failed`` and ``stopped`` fields."""
    counts = study.counts()
    waiting = study.trials(["RUNNING", "PENDING"])
    ended = study.used() - sum(not t.metrics.get("promoted_at_steps") for t in waiting)
    return {"completed": ended, "failed": counts.get("FAILED", 0), "stopped": _stopped(counts.get("STOPPED", 0))}


def _stopped(n: int) -> str:
    return f"  stopped {n}" if n else ""
