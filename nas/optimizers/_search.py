"""Maximising a cheap acquisition over mixed and discrete domains, for ``mobo``.

The score is a function ``X (N x d) -> N`` that costs little per row (:mod:`._ehvi`), so
the search spends rows, not calls: every step scores a whole batch at once. Small fully
discrete domains are enumerated. Otherwise random points (and, where given, perturbations
of the front's inputs) are scored in one call; the best few start a local search that, per
round, scores every one-coordinate change of every start in one call (each other category,
integer steps of 1, 2, 4, ... values) and moves each start to its best neighbour, while
continuous coordinates are polished by a few batched L-BFGS-B iterations with the discrete
ones held. A start stops once no neighbour improves it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from nas.optimizers._acqf import LBFGS_MAXLS, Domain

Score = Callable[[Tensor], Tensor]
_CHUNK = 4096  # rows scored per call when enumerating
SMALL_INT = 16  # integers with at most this many values move to any of them
FINAL_POLISH = 5  # the last polish of the starts runs this many times the per-round iterations
_DTYPE = torch.double


def sample(domain: Domain, n: int) -> Tensor:
    """``n x d`` uniform points: continuous columns in their bounds, discrete and
    categorical ones drawn from their values (torch's global generator)."""
    lo, hi = domain.bounds
    X = lo + (hi - lo) * torch.rand(n, len(lo), dtype=_DTYPE)
    for j, values in domain.values.items():
        X[:, j] = torch.tensor(values, dtype=_DTYPE)[torch.randint(len(values), (n,))]
    return X


def _steps(values: list[float], current: float, categorical: bool) -> list[float]:
    """Other values of a discrete column reachable in one move: every category (and every
    value of a small integer), else the integer values 1, 2, 4, ... positions away."""
    i = int(np.argmin(np.abs(np.asarray(values) - current)))
    if categorical or len(values) <= SMALL_INT:
        return [v for k, v in enumerate(values) if k != i]
    out, step = [], 1
    while step < len(values):
        out += [values[k] for k in (i - step, i + step) if 0 <= k < len(values)]
        step *= 2
    return out


def neighbours(X: Tensor, domain: Domain) -> tuple[Tensor, Tensor]:
    """Every one-coordinate discrete change of each row of ``X``, and the row it came from."""
    rows, owner = [], []
    for r, x in enumerate(X):
        for j, values in domain.values.items():
            for v in _steps(values, float(x[j]), j in domain.categorical):
                y = x.clone()
                y[j] = v
                rows.append(y)
                owner.append(r)
    if not rows:
        return X[:0], torch.empty(0, dtype=torch.long)
    return torch.stack(rows), torch.tensor(owner)


def perturbed(X: Tensor, domain: Domain, copies: int, scales: tuple[float, ...] = (0.01, 0.1)) -> Tensor:
    """``copies`` Gaussian perturbations of each row's continuous columns per scale (a
    fraction of each column's range), clipped to the bounds, so a front lying on a face
    of the box gets points exactly on it; discrete columns unchanged."""
    cont = domain.continuous
    if not cont or not len(X):
        return X[:0]
    lo, hi = domain.bounds[:, cont]
    out = []
    for s in scales:
        P = X.repeat_interleave(copies, dim=0)
        P[:, cont] = torch.minimum(torch.maximum(P[:, cont] + s * (hi - lo) * torch.randn(len(P), len(cont),
                                                                                     dtype=_DTYPE), lo), hi)
        out.append(P)
    return torch.cat(out)


def avoided(X: Tensor, X_avoid: Tensor) -> Tensor:
    """Which rows of ``X`` equal a row of ``X_avoid``."""
    if not len(X_avoid) or not len(X):
        return torch.zeros(len(X), dtype=torch.bool)
    return (X.unsqueeze(-2) == X_avoid.unsqueeze(-3)).all(-1).any(-1)


def _masked(score: Score, X: Tensor, X_avoid: Tensor) -> Tensor:
    with torch.no_grad():
        v = score(X)
    return v.masked_fill(avoided(X, X_avoid), -torch.inf)


def polish(score: Score, X: Tensor, domain: Domain, maxiter: int) -> Tensor:
    """The rows of ``X`` after at most ``maxiter`` L-BFGS-B iterations on their continuous
    columns (one run for all rows: the summed score separates)."""
    cont = domain.continuous
    if not cont or not len(X):
        return X
    lo, hi = domain.bounds[:, cont]

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        Z = torch.tensor(z, dtype=_DTYPE).reshape(len(X), len(cont)).requires_grad_(True)
        Xz = X.clone()
        Xz[:, cont] = Z
        v = score(Xz)
        total = -v.clamp_min(-1e30).sum()  # a -inf row would stop the whole run
        if not total.requires_grad:  # no box left to gain in: the score is flat
            return float(total), np.zeros_like(z)
        (g,) = torch.autograd.grad(total, Z)
        return float(total.detach()), g.numpy().ravel()

    bounds = [(float(a), float(b)) for _ in range(len(X)) for a, b in zip(lo, hi, strict=True)]
    res = minimize(f, X[:, cont].numpy().ravel(), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": maxiter, "maxls": LBFGS_MAXLS})
    out = X.clone()
    out[:, cont] = torch.tensor(res.x, dtype=_DTYPE).reshape(len(X), len(cont))
    return out


def _better_rows(score: Score, new: Tensor, old: Tensor, old_v: Tensor, X_avoid: Tensor) -> tuple[Tensor, Tensor]:
    """Keep each row's polished version only where it scores higher (and is not avoided:
    a polish that ends on a bound can land on a known point)."""
    v = _masked(score, new, X_avoid)
    take = v > old_v
    return torch.where(take.unsqueeze(-1), new, old), torch.where(take, v, old_v)


def local_search(
    score: Score,
    domain: Domain,
    X_avoid: Tensor,
    n_raw: int,
    n_starts: int,
    rounds: int,
    maxiter: int,
    extra: Tensor | None = None,
) -> Tensor:
    """The best point found (``1 x d``), never a row of ``X_avoid`` in a fully discrete
    domain (in a mixed one a repeat has probability zero and the caller dedupes)."""
    X0 = sample(domain, n_raw) if extra is None else torch.cat([sample(domain, n_raw), extra])
    v0 = _masked(score, X0, X_avoid)
    top = torch.argsort(v0, descending=True)[:n_starts]
    X, v = X0[top], v0[top]
    X, v = _better_rows(score, polish(score, X, domain, maxiter), X, v, X_avoid)
    active = torch.ones(len(X), dtype=torch.bool)
    for _ in range(rounds):
        N, owner = neighbours(X[active], domain)
        if not len(N):
            break
        owner = torch.nonzero(active).squeeze(-1)[owner]
        vn = _masked(score, N, X_avoid)
        best = torch.full_like(v, -torch.inf).scatter_reduce(0, owner, vn, reduce="amax")
        moved = best > v
        for r in torch.nonzero(moved).squeeze(-1).tolist():
            mine = torch.nonzero(owner == r).squeeze(-1)
            X[r] = N[mine[torch.argmax(vn[mine])]]
        v = torch.where(moved, best, v)
        if moved.any():
            X, v = _better_rows(score, polish(score, X, domain, maxiter), X, v, X_avoid)
        active = moved
        if not active.any():
            break
    X, v = _better_rows(score, polish(score, X, domain, FINAL_POLISH * maxiter), X, v, X_avoid)
    return X[torch.argmax(v)].unsqueeze(0)


def enumerate_best(score: Score, choices: Tensor, X_avoid: Tensor) -> Tensor | None:
    """The best row of ``choices`` that is not in ``X_avoid`` (``1 x d``), or None."""
    values = torch.cat([_masked(score, choices[i : i + _CHUNK], X_avoid)
                        for i in range(0, len(choices), _CHUNK)])
    i = int(torch.argmax(values))
    return None if torch.isinf(values[i]) and values[i] < 0 else choices[i].unsqueeze(0)
