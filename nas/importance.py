"""Which parameters drive an objective: Sobol indices on a GP surrogate, or a forest fANOVA.

Pure functions from encoded trials (``n x d`` arrays in the optimizer's encoding,
:mod:`nas.optimizers._encode`) to first-order (S1) and total (ST) indices with intervals:

* ``sobol``: one GP built as ``mobo`` builds it (:func:`nas.optimizers._gp.build_gp`: same
  encoding, transforms and likelihood) but with an ANOVA kernel, a factor ``1 + w_j k_j`` per
  input (:func:`anova_kernel`; ``mobo`` itself is unchanged). ``samples`` posterior functions are drawn:
  each is sampled jointly at ``anchors`` quasi-random points and extended elsewhere by the
  GP's conditional mean given the trials and those values (a kriging interpolant, which
  understates variation between anchors). Each function gets its own scrambled Saltelli
  design of ``base·(d+2)`` points, SALib estimates its S1 and ST, and the report gives the
  mean over functions with a t interval of their spread, which holds both the surrogate's
  uncertainty and the Monte Carlo error of each estimate.
* ``fanova``: a scikit-learn random forest (as fANOVA fits one); the same Saltelli/SALib
  estimate on each tree's prediction function; mean and interval over trees.

Inputs are drawn uniformly on the unit cube of the encoding and snapped as the optimizer
decodes: an integer to its slice centre, a categorical to its index (all choices equally likely).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from search_spaces.params import Categorical, Float, Param

if TYPE_CHECKING:
    import torch
    from botorch.models import SingleTaskGP

METHODS = ("sobol", "fanova")


class ImportanceError(ValueError):
    """The study cannot be analysed as asked (too few trials, unknown objective or method)."""


def min_trials(d: int) -> int:
    """Completed trials needed for ``d`` parameters: the ``2·(d+1)`` that ``mobo`` samples
    before it trusts a model, and never fewer than 10."""
    return max(10, 2 * (d + 1))


@dataclass(frozen=True)
class Settings:
    """``base``: Saltelli base size N (a power of two; each design has N·(d+2) points);
    ``samples``: posterior functions (sobol) or trees (fanova); ``anchors``: points where
    each posterior function is sampled jointly; ``conf``: interval level."""

    base: int = 1024
    samples: int = 16
    anchors: int = 512
    conf: float = 0.95
    seed: int = 0
    trees: int = 64

    def __post_init__(self) -> None:
        if self.base < 16 or self.base & (self.base - 1):
            raise ImportanceError(f"base={self.base}: use a power of two >= 16, e.g. 1024")
        if self.samples < 3 or self.trees < 3:
            raise ImportanceError(f"samples={self.samples}, trees={self.trees}: use at least 3 of each")
        if self.anchors < 16:
            raise ImportanceError(f"anchors={self.anchors}: use at least 16")
        if not 0.5 <= self.conf < 1:
            raise ImportanceError(f"conf={self.conf}: use a level in [0.5, 1), e.g. 0.95")


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class ParamImportance:
    name: str
    s1: Interval
    st: Interval
    interaction: Interval  # ST - S1: the share of variance in interactions with others


@dataclass(frozen=True)
class ObjectiveImportance:
    objective: str
    method: str
    n_trials: int
    params: list[ParamImportance]
    settings: dict[str, Any] = field(default_factory=dict)

    def top_interactions(self, k: int = 3, threshold: float = 0.05) -> list[ParamImportance]:
        """Parameters whose ST - S1 is at least ``threshold`` (largest first, at most ``k``)."""
        big = [p for p in self.params if p.interaction.value >= threshold]
        return sorted(big, key=lambda p: -p.interaction.value)[:k]

    def to_json(self) -> dict[str, Any]:
        def iv(i: Interval) -> dict[str, float]:
            return {"value": i.value, "low": i.low, "high": i.high}

        return {
            "objective": self.objective,
            "method": self.method,
            "n_trials": self.n_trials,
            "settings": self.settings,
            "params": [
                {"name": p.name, "S1": iv(p.s1), "ST": iv(p.st), "ST_minus_S1": iv(p.interaction)} for p in self.params
            ],
            "top_interactions": [p.name for p in self.top_interactions()],
        }


# ---- designs ------------------------------------------------------------------------------


def snap(params: dict[str, Param], u: np.ndarray) -> np.ndarray:
    """Unit-cube points (``m x d``) -> encoded coordinates the optimizer can produce."""
    x = np.array(u, dtype=float, copy=True)
    for j, p in enumerate(params.values()):
        if isinstance(p, Categorical):
            x[:, j] = np.minimum(np.floor(u[:, j] * p.cardinality), p.cardinality - 1)
        elif not isinstance(p, Float):
            x[:, j] = [p.encode(p.decode(v)) for v in u[:, j]]
    return x


def _problem(d: int) -> dict[str, Any]:
    return {"num_vars": d, "names": [f"x{j}" for j in range(d)], "bounds": [[0.0, 1.0]] * d}


def saltelli_design(params: dict[str, Param], base: int, seed: int) -> np.ndarray:
    """A scrambled Saltelli design (``base·(d+2) x d``), snapped to the encoding."""
    from SALib.sample import sobol as sobol_sample

    u = sobol_sample.sample(_problem(len(params)), base, calc_second_order=False, scramble=True, seed=seed)
    return snap(params, u)


def sobol_from_design(y: np.ndarray, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SALib's S1 and ST from outputs on a Saltelli design; zeros when ``y`` is constant."""
    from SALib.analyze import sobol

    if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return np.zeros(d), np.zeros(d)
    res = sobol.analyze(_problem(d), y, calc_second_order=False, num_resamples=2, seed=seed)
    return np.asarray(res["S1"], dtype=float), np.asarray(res["ST"], dtype=float)


def index_samples(
    functions: Sequence[Callable[[np.ndarray], np.ndarray]], params: dict[str, Param], settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """S1 and ST (each ``len(functions) x d``) of each function on its own Saltelli design."""
    s1, st = [], []
    for i, f in enumerate(functions):
        design = saltelli_design(params, settings.base, settings.seed * 7919 + i)
        a, b = sobol_from_design(np.asarray(f(design), dtype=float).ravel(), len(params), settings.seed + i)
        s1.append(a)
        st.append(b)
    return np.array(s1), np.array(st)


def summarize(samples: np.ndarray, conf: float) -> list[Interval]:
    """Mean and t interval of each column of ``samples`` (``S x d``), clipped to [0, 1]."""
    from scipy import stats

    mean = samples.mean(axis=0)
    half = stats.t.ppf(0.5 + conf / 2, len(samples) - 1) * samples.std(axis=0, ddof=1)
    clip = lambda v: float(min(max(v, 0.0), 1.0))  # noqa: E731
    return [Interval(clip(m), clip(m - h), clip(m + h)) for m, h in zip(mean, half, strict=True)]


# ---- surrogates ---------------------------------------------------------------------------


def fit_gp(X: np.ndarray, y: np.ndarray, params: dict[str, Param], seed: int = 0) -> SingleTaskGP:
    """The GP ``mobo`` would fit to these trials (same encoding, transforms and likelihood)
    with the ANOVA kernel (:func:`anova_kernel`), its marginal likelihood maximised from short
    lengthscales and little noise. (With the earlier kernels, the priors' default start
    reached a lower likelihood on Ishigami and the G-function and took up to 6x longer.)"""
    import torch

    from nas.optimizers._encode import categorical_dims
    from nas.optimizers._gp import build_gp

    Xt = torch.as_tensor(X, dtype=torch.double)
    yt = torch.as_tensor(np.asarray(y, dtype=float).reshape(-1, 1), dtype=torch.double)
    model = build_gp(Xt, yt, list(categorical_dims(params)))
    model.covar_module = anova_kernel(params)
    _short_start(model)
    _fit_mll(model, seed)
    return model.eval()


def anova_kernel(params: dict[str, Param]) -> Any:
    """``σ² Π_j (1 + w_j k_j(x_j, x_j'))`` (:class:`~nas._anova_kernel.AnovaKernel`) in place
    of ``mobo``'s ARD product kernel.

    Sobol indices split a function's variance into main effects and interactions. With
    ``mobo``'s kernel alone, a GP fitted to ~100 points reverts towards its mean between
    trials along every short-lengthscale input at once, which reads as interactions the
    function does not have (on Ishigami it gave x2, a pure main effect, ST 0.56 for 0.44).
    An additive term per input beside that kernel fixed the main effects but still left
    weak inputs of a product (the G-function's a = 10, 15, 25) with spurious variance; the
    ANOVA kernel has a main-effect and an interaction term for every subset of inputs and
    one weight per input that switches all of an input's terms off together."""
    import torch
    from gpytorch.kernels import ScaleKernel

    from nas._anova_kernel import AnovaKernel

    cat = [isinstance(p, Categorical) for p in params.values()]
    return ScaleKernel(AnovaKernel(cat)).to(torch.double)


def _short_start(model: SingleTaskGP) -> None:
    for module in model.modules():
        if getattr(module, "has_lengthscale", False):
            module.lengthscale = 0.2 * module.lengthscale.detach().clone().fill_(1.0)
    model.likelihood.noise = 1e-3


def _fit_mll(model: SingleTaskGP, seed: int, maxiter: int = 200) -> float:
    """Fit in place (fixed torch seed, at most ``maxiter`` L-BFGS steps, as ``mobo``'s cold
    fit); the marginal log likelihood reached."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        # Every warning accepted: botorch would otherwise refit up to 4 more times from
        # hyperparameters drawn from the priors (minutes on the G-function, 100 points);
        # fit_gp makes one start, from short lengthscales.
        fit_gpytorch_mll(
            mll, optimizer_kwargs={"options": {"maxiter": maxiter}}, warning_handler=lambda w: True
        )
    model.train()
    with torch.no_grad():
        X = model.train_inputs[0]
        value = float(mll(model(X), model.train_targets).sum())
    model.eval()
    return value


class PosteriorFunctions:
    """``samples`` functions drawn from a GP posterior (in its standardized output scale,
    which leaves Sobol indices unchanged): exact joint draws at the anchors, conditional
    mean elsewhere. ``functions()[s](x)`` evaluates draw ``s`` at ``x`` (``m x d``)."""

    def __init__(self, model: SingleTaskGP, anchors: np.ndarray, samples: int, seed: int) -> None:
        import torch
        from linear_operator.utils.cholesky import psd_safe_cholesky

        self.model = model
        with torch.no_grad():
            X = model.train_inputs[0]
            Z = self._inputs(anchors)
            y = model.train_targets
            self.mean = float(model.mean_module(X[:1]).reshape(-1)[0])
            noise = float(model.likelihood.noise.reshape(-1)[0])
            kxx = self._k(X, X) + noise * torch.eye(len(X), dtype=X.dtype)
            kzx, kzz = self._k(Z, X), self._k(Z, Z)
            lx = psd_safe_cholesky(kxx)
            v = torch.cholesky_solve((y - self.mean).unsqueeze(-1), lx)
            w = torch.cholesky_solve(kzx.T, lx)
            mu_z = self.mean + (kzx @ v).squeeze(-1)
            self.scale = loo_scale(kxx, y - self.mean)
            lz = self.scale * psd_safe_cholesky(kzz - kzx @ w, max_tries=8)
            gen = torch.Generator().manual_seed(seed)
            eps = torch.randn(len(Z), samples, generator=gen, dtype=X.dtype)
            f_z = mu_z.unsqueeze(-1) + lz @ eps  # anchors x samples
            self.T = torch.cat([X, Z])
            jitter = 1e-6 * float(torch.diagonal(kzz).mean())
            ktt = torch.cat([torch.cat([kxx, kzx.T], 1), torch.cat([kzx, kzz + jitter * torch.eye(len(Z))], 1)])
            targets = torch.cat([(y - self.mean).unsqueeze(-1).expand(-1, samples), f_z - self.mean])
            self.alpha = torch.cholesky_solve(targets, psd_safe_cholesky(ktt, max_tries=8))

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        import torch

        t = torch.as_tensor(x, dtype=torch.double)
        tf = getattr(self.model, "input_transform", None)
        return tf(t) if tf is not None else t

    def _k(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model.covar_module(a, b).to_dense()

    def evaluate(self, s: int, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
        import torch

        with torch.no_grad():
            xt = self._inputs(x)
            out = [self._k(xt[i : i + chunk], self.T) @ self.alpha[:, s] for i in range(0, len(xt), chunk)]
        return self.mean + torch.cat(out).numpy()

    def functions(self) -> list[Callable[[np.ndarray], np.ndarray]]:
        return [lambda x, s=s: self.evaluate(s, x) for s in range(self.alpha.shape[1])]


def loo_scale(kxx: torch.Tensor, r: torch.Tensor) -> float:
    """How much wider the posterior must be for its leave-one-out errors to look calibrated:
    ``sqrt(mean(z²))`` of the standardized LOO residuals, at least 1 (never narrows)."""
    import torch

    inv = torch.cholesky_inverse(torch.linalg.cholesky(kxx))
    diag = torch.diagonal(inv)
    z = (inv @ r) / diag.sqrt()  # LOO residual / LOO standard deviation
    return max(1.0, float(z.pow(2).mean().sqrt()))


def anchor_points(params: dict[str, Param], n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    return snap(params, qmc.Sobol(len(params), scramble=True, seed=seed).random(n))


# ---- the two methods ----------------------------------------------------------------------


def gp_indices(
    X: np.ndarray, y: np.ndarray, params: dict[str, Param], settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """S1 and ST samples (``samples x d`` each) over GP posterior functions."""
    model = fit_gp(X, y, params, settings.seed)
    post = PosteriorFunctions(
        model, anchor_points(params, settings.anchors, settings.seed), settings.samples, settings.seed
    )
    return index_samples(post.functions(), params, settings)


def forest_indices(
    X: np.ndarray, y: np.ndarray, params: dict[str, Param], settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """S1 and ST samples (``trees x d`` each), one per tree of a random forest."""
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=settings.trees, max_features=None, random_state=settings.seed)
    forest.fit(X, np.asarray(y, dtype=float))
    small = Settings(**{**settings.__dict__, "base": max(16, settings.base // 4)})
    return index_samples([t.predict for t in forest.estimators_], params, small)


def importance(
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Param],
    objective: str = "y",
    method: str = "sobol",
    settings: Settings | None = None,
) -> ObjectiveImportance:
    """S1, ST and ST - S1 with intervals for each parameter of one objective.

    Args:
        X: ``n x d`` encoded trials (:func:`nas.optimizers._encode.encode`); y: ``n`` values.
    """
    settings = settings or Settings()
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    check_inputs(X, y, params, method, objective)
    run = gp_indices if method == "sobol" else forest_indices
    s1, st = run(X, y, params, settings)
    rows = [
        ParamImportance(name, a, b, c)
        for name, a, b, c in zip(
            params,
            summarize(s1, settings.conf),
            summarize(st, settings.conf),
            summarize(st - s1, settings.conf),
            strict=True,
        )
    ]
    return ObjectiveImportance(objective, method, len(y), rows, dict(settings.__dict__))


def check_inputs(X: np.ndarray, y: np.ndarray, params: dict[str, Param], method: str, objective: str) -> None:
    if method not in METHODS:
        raise ImportanceError(f"method {method!r}: choose one of {', '.join(METHODS)}")
    d = len(params)
    if X.ndim != 2 or X.shape != (len(y), d):
        raise ImportanceError(f"X has shape {X.shape}; expected ({len(y)}, {d}) for parameters {list(params)}")
    if not np.all(np.isfinite(y)):
        raise ImportanceError(f"objective {objective!r} has non-finite values; drop those trials first")
    need = min_trials(d)
    if len(y) < need:
        raise ImportanceError(
            f"objective {objective!r} has {len(y)} completed trials; importance needs at "
            f"least {need} for {d} parameters (max(10, 2·(d+1))): run more trials"
        )
