"""RARTS and first-order DARTS on the analytically solvable bilevel toy of the RARTS paper.

    L_val(w, α) = α·w − 2α + 1,     L_train(w, α) = w² − 2α·w + α²

Bilevel solution: w*(α) = α, so L_val(w*(α), α) = (α − 1)² and α = w = 1.
First-order DARTS stops where ∇_w L_train = 2(w − α) = 0 and ∇_α L_val = w − 2 = 0: α = w = 2.
RARTS stops where the gradient of L_β(w, y, α) = L_val(y, α) + λ L_train(w, α) + β/2 (y − w)²
vanishes:
    ∂y:  α + β (y − w) = 0                  ⇒  y = w − α/β
    ∂w:  2λ (w − α) − β (y − w) = 0        ⇒  2λ (w − α) = −α  ⇒  w = α (1 − 1/(2λ))
    ∂α:  (y − 2) + 2λ (α − w) = 0           ⇒  y = 2 − α
so  2 − α = α (1 − 1/(2λ) − 1/β),  i.e.  α* = 2 / (2 − 1/(2λ) − 1/β),  which tends to the
bilevel α = 1 as λ, β grow.
"""

from __future__ import annotations

import pytest
import torch

from search_spaces.rarts.update import darts1_step, rarts_step


def scalar(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64, requires_grad=True)


def l_val(w, a):
    return a * w - 2 * a + 1


def l_train(w, a):
    return w**2 - 2 * a * w + a**2


def sgd(p, lr=0.02):
    return torch.optim.SGD([p], lr=lr)


def rarts_fixed_point(lam: float, beta: float) -> tuple[float, float, float]:
    a = 2 / (2 - 1 / (2 * lam) - 1 / beta)
    w = a * (1 - 1 / (2 * lam))
    return a, w, w - a / beta


@pytest.mark.parametrize(
    ("lam", "beta", "fresh"), [(1.0, 4.0, True), (2.0, 4.0, True), (4.0, 16.0, True), (2.0, 4.0, False)]
)
def test_rarts_converges_to_the_fixed_point_of_its_relaxed_objective(lam, beta, fresh):
    w, y, a = scalar(0.5), scalar(-0.5), scalar(0.0)
    # step sizes at half the inverse curvature of each coordinate (2λ+β, β, 2λ)
    ow, oy, oa = sgd(w, 0.5 / (2 * lam + beta)), sgd(y, 0.5 / beta), sgd(a, 0.5 / (2 * lam))
    for _ in range(700):
        rarts_step([w], [y], [a], ow, oy, oa, lambda: l_train(w, a), lambda: l_val(y, a), lam, beta, fresh_alpha=fresh)
    a_star, w_star, y_star = rarts_fixed_point(lam, beta)
    assert a.item() == pytest.approx(a_star, abs=1e-6)
    assert w.item() == pytest.approx(w_star, abs=1e-6)
    assert y.item() == pytest.approx(y_star, abs=1e-6)


def test_rarts_moves_towards_the_bilevel_solution_as_the_relaxation_tightens():
    gaps = [abs(rarts_fixed_point(lam, beta)[0] - 1.0) for lam, beta in [(1, 4), (2, 4), (4, 16), (64, 256)]]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.02 and gaps[0] > 0.5


def test_first_order_darts_converges_to_the_known_wrong_point():
    w, a = scalar(0.5), scalar(0.0)
    ow, oa = sgd(w, 0.25), sgd(a, 0.25)
    for _ in range(700):
        darts1_step([w], [a], ow, oa, lambda: l_train(w, a), lambda: l_val(w, a))
    assert a.item() == pytest.approx(2.0, abs=1e-6) and w.item() == pytest.approx(2.0, abs=1e-6)
