"""``mobo``: multi-objective Bayesian optimisation on BoTorch's models.

encode history → one GP per objective and per constrained metric (:mod:`._gp`) →
qLogNoisyExpectedHypervolumeImprovement with running trials as ``X_pending``
(qLogNEI for one objective, qLogNParEGO past 3) → ``optimize_acqf`` (:mod:`._acqf`) →
decode. In domains with an integer or categorical column and up to three objectives,
analytic log EHVI (with one objective, its EI) maximised by enumeration or a batched local
search instead (:mod:`._analytic`): BoTorch's qLogNEHVI with
``optimize_acqf_mixed_alternating`` cost seconds a proposal there (README, "The
optimizer"). Scrambled Sobol for the first ``n_initial`` trials.

The hypervolume is measured against the problem's reference point, but each objective's
samples are capped (softly; hard on the analytic path) at its best observed value plus
``ideal_margin`` times its observed range: with a far reference point, a model's
extrapolation past the ideal would otherwise look like the largest gain on offer. With two
objectives, the optimiser also starts from perturbations of the current front.

Trials STOPPED early by a scheduler (``stopped``, default ``"last_value"``) join the GP fit
with their last step's values, which for a curve that improves with training are
pessimistic: the model learns where the scheduler found configurations poor. They never
enter the front, the reference point or the caps, which come from full-fidelity trials
only. With ``stopped: exclude`` they are left out of the fit. With ``stopped: fidelity``
they join it with one more model input, the fidelity ``log(1 + step) / log(1 + max_step)``
of the scheduler's ``max_step`` (1 for a complete trial), and every candidate is scored at
fidelity 1 (:func:`._acqf.at_full_fidelity`): the GP can then tell values that are poor
because the trial stopped early from values that are poor where it ran. That path skips
the analytic one (its dense predictor knows no fidelity column), and since BoTorch's
optimisers do not avoid evaluated points while the model's best is often a stopped trial's
configuration, such a proposal is replaced by the best new random configuration under the
acquisition (:meth:`MoboOptimizer._dedupe`). Under every option they
stay in the history that places Sobol points and refuses duplicates, so a stopped
configuration is not proposed again. Measured in README (the multi-fidelity benchmark): no
option wins in hypervolume; with the stopped trials fitted more proposals survive the
scheduler's rungs; ``fidelity`` costs the most time a proposal.

Stateless between calls: a proposal is a function of (problem, options, seed, history,
pending, ``rng`` state). The only state kept is a cache of fitted hyperparameters keyed by
data, which saves time and never changes a result. Torch seeds are drawn from ``rng``.

Options (all optional): ``n_initial`` (Sobol trials, default ``2·(d+1)``), ``mc_samples``
(64), ``num_restarts`` (4), ``raw_samples`` (128), ``acq_maxiter`` (5), ``max_fit_points``
(200), ``cold_maxiter`` (200), ``warm_maxiter`` (20), ``anchor_growth`` (1.5),
``max_enumerate`` (2000), ``ideal_margin`` (0; ``inf``: no caps), ``stopped``
(``last_value``, ``exclude`` or ``fidelity``).

Cost of a proposal. Each point of a batch is one sequential-greedy step: ``raw_samples``
random starts (with two objectives, as many perturbations of the front too) are scored,
``num_restarts`` of them are picked by score and, in continuous spaces, polished by
L-BFGS-B for at most ``acq_maxiter`` iterations of at most three line-search steps each
(:data:`._acqf.LBFGS_MAXLS`). The restarts run as one batch, so the step costs
as many acquisition calls as its slowest restart needs: bounding iterations and line
searches bounds the calls (at most ``1 + acq_maxiter·(LBFGS_MAXLS + 1)`` per point), and a
restart whose line search gives up keeps its point rather than the whole step starting
over. On the analytic path (:mod:`._search`) a point costs a few dozen calls of a cheap
score: one over ``8·raw_samples`` random points and the front's neighbours, one per round
of discrete moves of the ``num_restarts`` starts, and ``acq_maxiter`` L-BFGS-B iterations
on continuous columns between moves; ``mc_samples`` is not used there. Refits are bounded as
:mod:`._gp` says: a cold fit only at anchor sizes, else ``warm_maxiter`` iterations; the
objectives' GPs are one batched model, fitted by one L-BFGS run.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from botorch.exceptions.errors import CandidateGenerationError
from linear_operator.utils.errors import NanError, NotPSDError
from pydantic import Field

from nas.optimizers import _acqf, _analytic, _gp
from nas.optimizers._encode import categorical_dims, decode, encode, unit_to_space
from nas.optimizers.base import Optimizer, OptimizerError, OptimizerOptions, Problem, register_optimizer
from nas.optimizers.sobol import sobol_configs
from nas.pareto import non_dominated_mask, reference_point, signs
from nas.trial import Trial, TrialState

log = logging.getLogger(__name__)

ACQ_ERRORS = (CandidateGenerationError, NotPSDError, NanError, torch.linalg.LinAlgError)
Stopped = Literal["last_value", "exclude", "fidelity"]  # what the fit does with STOPPED trials (docstring)


class MoboOptions(OptimizerOptions):
    """Validated options of :class:`MoboOptimizer` (see the module docstring).

    ``n_initial`` left unset means ``2·(d+1)``: :meth:`initial` resolves it.
    """

    n_initial: int | None = Field(default=None, ge=0)
    mc_samples: int = Field(default=64, ge=1)
    num_restarts: int = Field(default=4, ge=1)
    raw_samples: int = Field(default=128, ge=1)
    acq_maxiter: int = Field(default=5, ge=1)
    max_fit_points: int = Field(default=200, ge=4)
    cold_maxiter: int = Field(default=200, ge=1)
    warm_maxiter: int = Field(default=20, ge=1)
    anchor_growth: float = Field(default=1.5, gt=1.0)  # 1 would refit cold every time
    max_enumerate: int = Field(default=2_000, ge=1)
    ideal_margin: float = Field(default=0.0, ge=0.0)
    stopped: Stopped = "last_value"

    def initial(self, d: int) -> int:
        return 2 * (d + 1) if self.n_initial is None else self.n_initial


@dataclass(frozen=True)
class TrainingData:
    """Finished trials as tensors, rows ordered by trial number.

    ``X``: ``n x d`` encoded inputs. ``Y``: ``n x (m + k)`` model outputs: the ``m``
    objectives turned to maximization, then the ``k`` constrained metrics as observed (NaN
    where missing). ``Y_min``: ``n x m`` objectives in minimization orientation. ``full``:
    ``n`` booleans, False for a STOPPED trial's last-step values. ``fidelity``: ``X`` has one
    more column, each row's fidelity (:func:`fidelity`; 1 for a full-fidelity row).
    """

    X: torch.Tensor
    Y: torch.Tensor
    Y_min: np.ndarray
    feasible: np.ndarray
    numbers: np.ndarray
    skipped: int
    full: np.ndarray
    fidelity: bool = False

    @property
    def front_rows(self) -> np.ndarray:
        """Rows that may define the front, reference point and caps: the full-fidelity
        ones, or every row while there is none (no front yet: the stopped values are all
        there is)."""
        return self.full if self.full.any() else np.ones(len(self.full), dtype=bool)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch and Python's ``random`` (used by BoTorch's mixed optimiser) for a block,
    restoring both generators afterwards."""
    state = random.getstate()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


def _metric(t: Trial, name: str) -> float:
    v = (t.values or {}).get(name, t.metrics.get(name))
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def fidelity(t: Trial, max_step: int) -> float:
    """How far ``t`` ran, in ``[0, 1]``: ``log(1 + step) / log(1 + max_step)`` of a STOPPED
    trial's last step, 1 for any other."""
    if t.state != TrialState.STOPPED:
        return 1.0
    step = t.metrics.get("stopped_at_step")
    if not isinstance(step, int | float) or step < 0:
        return 0.0
    return min(1.0, math.log1p(step) / math.log1p(max_step))


def training_data(problem: Problem, history: Sequence[Trial], stopped: Stopped = "last_value") -> TrainingData:
    """``history`` as model data; STOPPED trials join it (``full`` False) unless ``stopped``
    is ``"exclude"``. With ``"fidelity"`` (and a ``problem.max_step``), once a STOPPED trial
    is among the rows, ``X`` gets a last column: each row's :func:`fidelity`."""
    names = [o.name for o in problem.objectives]
    s = signs([o.direction for o in problem.objectives])
    usable, skipped = [], 0
    kept = [t for t in history if stopped != "exclude" or t.state != TrialState.STOPPED]
    for t in sorted(kept, key=lambda t: t.number):
        vals = [_metric(t, k) for k in names]
        if all(math.isfinite(v) for v in vals):
            usable.append((t, vals))
        else:
            skipped += 1
    Y_min = np.array([v for _, v in usable], dtype=float).reshape(-1, len(names)) * s
    C = np.array([[_metric(t, c.metric) for c in problem.constraints] for t, _ in usable],
                 dtype=float).reshape(len(usable), len(problem.constraints))
    feasible = np.array([
        all(math.isfinite(row[i]) and c.satisfied(row[i]) for i, c in enumerate(problem.constraints))
        for row in C
    ], dtype=bool)
    X = encode(problem.params, [t.params for t, _ in usable]).reshape(len(usable), len(problem.params))
    full = np.array([t.state != TrialState.STOPPED for t, _ in usable], dtype=bool)
    max_step, with_fidelity = problem.max_step, False
    if stopped == "fidelity" and max_step is not None and not full.all():
        X, with_fidelity = np.hstack([X, np.array([[fidelity(t, max_step)] for t, _ in usable])]), True
    return TrainingData(
        X=torch.tensor(X, dtype=torch.double),
        Y=torch.tensor(np.hstack([-Y_min, C]), dtype=torch.double),
        Y_min=Y_min,
        feasible=feasible,
        numbers=np.array([t.number for t, _ in usable]),
        skipped=skipped,
        full=full,
        fidelity=with_fidelity,
    )


def _key(params: dict[str, Any]) -> tuple[str, ...]:
    return tuple(repr(params[k]) for k in sorted(params))


@register_optimizer("mobo")
class MoboOptimizer(Optimizer):
    Options = MoboOptions
    config: MoboOptions
    def __init__(self, problem: Problem, seed: int = 0, **options: Any) -> None:
        super().__init__(problem, seed, **options)
        if not problem.objectives:
            raise OptimizerError("mobo: the problem has no objectives")
        self.n_initial = self.config.initial(len(problem.params))
        self.domain = _acqf.make_domain(problem.params)
        # Domains with a discrete or categorical column take the analytic path (module docstring).
        self._discrete_columns = bool(self.domain.values)
        self._cache = _gp.HyperparameterCache()

    def propose(
        self,
        history: Sequence[Trial],
        pending: Sequence[Trial],
        n: int,
        rng: np.random.Generator,
    ) -> list[dict[str, Any]]:
        torch_seed = int(rng.integers(2**31 - 1))
        data = training_data(self.problem, history, self.config.stopped)
        info: dict[str, Any] = {"fallbacks": [], "n_train": len(data.X), "skipped": data.skipped}
        self.last_info = info
        if (count := len(history) + len(pending)) < self.n_initial:
            info["strategy"] = "sobol"
            info["reason"] = f"initial design: {count} of n_initial={self.n_initial} trials"
            return self._dedupe(self._sobol(history, pending, n), history, pending, rng)
        if len(data.X) < 2:
            return self._fallback(history, pending, n, rng,
                                  f"only {len(data.X)} finished trial(s) with every objective value")
        with seeded(torch_seed):
            try:
                X, info_acq, score = self._bayesopt(data, pending, n, torch_seed)
            except ACQ_ERRORS as e:
                return self._fallback(history, pending, n, rng, f"{type(e).__name__}: {e}")
        info.update(info_acq)
        configs = decode(self.problem.params, X.numpy())
        # Only the fidelity model's optimisers propose known configurations often enough to
        # rank their replacements (see _dedupe); elsewhere a repeat gets a random one.
        return self._dedupe(configs, history, pending, rng, score if data.fidelity else None)

    def _bayesopt(
        self, data: TrainingData, pending: Sequence[Trial], n: int, seed: int
    ) -> tuple[torch.Tensor, dict[str, Any], Any]:
        """Fit, build the acquisition function and optimise it: ``n x d`` candidates, and
        the MC acquisition optimised (None on the analytic path)."""
        cfg, m = self.config, len(self.problem.objectives)
        # Full-fidelity feasible rows rank first when the fit must leave rows out.
        keep = _gp.fit_subset(data.Y_min, data.feasible & data.full, data.numbers, cfg.max_fit_points)
        anchor = _gp.anchor_size(len(data.X), max(self.n_initial, 2), cfg.anchor_growth)
        model, reports = _gp.fit_model_list(
            data.X[keep], data.Y[keep], sorted(categorical_dims(self.problem.params)),
            anchor / len(data.X), self._cache, cfg.cold_maxiter, cfg.warm_maxiter,
            fast_loss=self._discrete_columns,
        )
        info: dict[str, Any] = {"fit": [r.how for r in reports], "n_fit": len(keep), "anchor": anchor}
        outputs = [o.name for o in self.problem.objectives] + [c.metric for c in self.problem.constraints]
        for name, r in zip(outputs, reports, strict=True):
            if r.error:
                msg = f"GP fit for {name!r} failed ({r.error}); kept its starting hyperparameters"
                log.warning("mobo: %s", msg)
                self.last_info["fallbacks"].append({"fallback": "unfitted_hyperparameters", "reason": msg})
        front = torch.as_tensor(data.front_rows)  # the front, reference point and caps use these rows
        ref_min = reference_point(data.Y_min[data.front_rows], [o.ref for o in self.problem.objectives],
                                  [o.direction for o in self.problem.objectives])
        info["ref_point"] = ref_min.tolist()
        constraints = _acqf.outcome_constraints(self.problem.constraints, m)
        d = len(self.problem.params)
        # With a fidelity column the model sees (x, fidelity); every candidate is scored at full fidelity.
        fid = data.fidelity
        X_pending = self._encode_pending(pending)
        X_avoid = data.X[:, :d] if X_pending is None else torch.cat([data.X[:, :d], X_pending])
        X_pending = None if X_pending is None else _acqf.with_full_fidelity(X_pending, fid)
        X_base = data.X[keep][front[keep]]
        caps = _acqf.objective_caps(data.Y[front, :m], cfg.ideal_margin)
        if m <= 3 and not fid and self._analytic_ok(model):
            X, how = self._analytic(model, data, keep, front, caps, ref_min, X_pending, X_avoid, n)
            info.update(strategy="LogEHVI", acq_optimizer=how)
            return X, info, None
        if m == 1:
            acq = _acqf.at_full_fidelity(_acqf.nei(model, X_base, constraints, X_pending, cfg.mc_samples, seed),
                                         d, fid)
            X, how = _acqf.optimize(acq, self.domain, n, X_avoid, cfg.num_restarts, cfg.raw_samples,
                                    cfg.max_enumerate, cfg.acq_maxiter)
            info.update(strategy="qLogNEI", acq_optimizer=how)
            return X, info, acq
        if m <= 3:
            acq = _acqf.nehvi(model, X_base, torch.tensor(-ref_min, dtype=torch.double), m,
                              constraints, X_pending, cfg.mc_samples, seed, caps)
            acq = _acqf.at_full_fidelity(acq, d, fid)
            # Starts around the front: measured to win on two objectives (ZDT1/2: fronts on
            # the box's faces) and to lose on three (DTLZ2), where they are left out. Left
            # out with a fidelity column too: its benchmark (README) was measured without them.
            X, how = _acqf.optimize(acq, self.domain, n, X_avoid, cfg.num_restarts, cfg.raw_samples,
                                    cfg.max_enumerate, cfg.acq_maxiter, around_best=m == 2 and not fid)
            info.update(strategy="qLogNEHVI", acq_optimizer=how)
            return X, info, acq
        chosen = torch.empty(0, d, dtype=torch.double)
        for i in range(n):  # one Chebyshev scalarization per point, conditioned on the ones before
            pend = torch.cat([p for p in (X_pending, _acqf.with_full_fidelity(chosen, fid)) if p is not None])
            acq = _acqf.parego(model, X_base, m, constraints, pend if len(pend) else None, cfg.mc_samples, seed + i)
            acq = _acqf.at_full_fidelity(acq, d, fid)
            x, how = _acqf.optimize(acq, self.domain, 1, torch.cat([X_avoid, chosen]),
                                    cfg.num_restarts, cfg.raw_samples, cfg.max_enumerate, cfg.acq_maxiter)
            chosen = torch.cat([chosen, x])
        info.update(strategy="qLogNParEGO", acq_optimizer=how)
        return chosen, info, acq

    def _analytic_ok(self, model: Any) -> bool:
        """The analytic path serves domains with a discrete or categorical column, when
        :mod:`._dense_gp` can predict with every GP."""
        return self._discrete_columns and _analytic.supported(model)

    def _analytic(
        self, model: Any, data: TrainingData, keep: np.ndarray, front: torch.Tensor,
        caps: tuple[torch.Tensor, torch.Tensor] | None, ref_min: np.ndarray,
        X_pending: torch.Tensor | None, X_avoid: torch.Tensor, n: int,
    ) -> tuple[torch.Tensor, str]:
        """``n`` points by :func:`._analytic.propose`. The objectives are capped (hard) at
        the best observed value plus ``ideal_margin`` times the observed range, plus the
        soft cap's slack (:data:`._acqf.CAP_SOFTNESS` of the range)."""
        cfg, m = self.config, len(self.problem.objectives)
        ok = torch.as_tensor(data.feasible[keep]) & front[keep]
        Y_front = _analytic.raised_front(model, data.X[keep][ok], data.Y[keep][ok, :m], self.domain)
        # Starts around the front with two objectives, as in the continuous case.
        X_f, Y_f = data.X[keep][front[keep]], data.Y[keep][front[keep], :m]
        X_front = X_f[torch.as_tensor(non_dominated_mask(-Y_f.numpy()))] if m == 2 else None
        budget = _analytic.Budget(cfg.raw_samples, cfg.num_restarts, cfg.acq_maxiter, cfg.max_enumerate)
        return _analytic.propose(
            model, self.domain, Y_front, X_front, torch.tensor(-ref_min, dtype=torch.double),
            None if caps is None else caps[0] + caps[1],
            _analytic.constraint_bounds(self.problem.constraints, m), X_pending, X_avoid, n, budget,
        )

    def _encode_pending(self, pending: Sequence[Trial]) -> torch.Tensor | None:
        if not pending:
            return None
        return torch.tensor(encode(self.problem.params, [t.params for t in pending]), dtype=torch.double)

    def _sobol(self, history: Sequence[Trial], pending: Sequence[Trial], n: int) -> list[dict[str, Any]]:
        start = max((t.number for t in [*history, *pending]), default=-1) + 1
        return sobol_configs(self.problem.params, self.seed, start, n)

    def _fallback(
        self, history: Sequence[Trial], pending: Sequence[Trial], n: int, rng: np.random.Generator,
        reason: str,
    ) -> list[dict[str, Any]]:
        """Sobol points instead of a model's, said in the log and in ``last_info``."""
        log.warning("mobo: falling back to Sobol points: %s", reason)
        self.last_info["strategy"] = "sobol"
        self.last_info["fallbacks"].append({"fallback": "sobol", "reason": reason})
        return self._dedupe(self._sobol(history, pending, n), history, pending, rng)

    def _dedupe(
        self, configs: list[dict[str, Any]], history: Sequence[Trial], pending: Sequence[Trial],
        rng: np.random.Generator, score: Any = None,
    ) -> list[dict[str, Any]]:
        """Replace any proposal equal to an evaluated, running or earlier one (recorded). With
        ``score`` (an acquisition function: ``stopped: fidelity``, whose model's best point is
        often a stopped trial's own configuration, on optimisers that do not avoid evaluated
        points) the replacement is the best of ``raw_samples`` new random configurations
        under it; otherwise one random configuration."""
        seen = {_key(t.params) for t in [*history, *pending]}
        out = []
        for c in configs:
            if _key(c) in seen:
                c, kind, msg = self._scored_replacement(seen, rng, score) if score is not None \
                    else self._random_replacement(seen, rng)
                log.warning("mobo: %s", msg)
                self.last_info["fallbacks"].append({"fallback": kind, "reason": msg})
            seen.add(_key(c))
            out.append(c)
        return out

    def _random_replacement(self, seen: set[tuple[str, ...]], rng: np.random.Generator) -> tuple[dict, str, str]:
        tries, c = 0, None
        while c is None or (_key(c) in seen and tries < 1000):
            u = rng.random((1, len(self.problem.params)))
            c, tries = decode(self.problem.params, unit_to_space(self.problem.params, u))[0], tries + 1
        return c, "random_replacement", (
            f"a proposal repeated a known configuration; replaced by a random one after {tries} draw(s)")

    def _scored_replacement(
        self, seen: set[tuple[str, ...]], rng: np.random.Generator, score: Any
    ) -> tuple[dict, str, str]:
        params = self.problem.params
        u = rng.random((self.config.raw_samples, len(params)))
        pool = [c for c in decode(params, unit_to_space(params, u)) if _key(c) not in seen]
        if not pool:
            return self._random_replacement(seen, rng)
        with torch.no_grad():
            best = int(score(torch.tensor(encode(params, pool), dtype=torch.double).unsqueeze(-2)).argmax())
        return pool[best], "best_random_under_acquisition", (
            f"a proposal repeated a known configuration; replaced by the best of {len(pool)} new random "
            "ones under the acquisition")
