r"""The two architecture updates this space compares: RARTS and first-order DARTS.

Notation: ``α`` architecture parameters, ``w`` network weights, ``L_train`` / ``L_val`` the
losses on the two halves of the search data.

**DARTS** (Liu, Simonyan, Yang, ICLR 2019) solves the bilevel problem

    (1)  min_α L_val(w*(α), α)   s.t.   (2)  w*(α) = argmin_w L_train(w, α)

and its first-order form drops the dependence of ``w*`` on ``α``:

    α ← α − η_α ∇_α L_val(w, α);      w ← w − η_w ∇_w L_train(w, α).

On a solvable toy problem this converges to a wrong point (see ``tests/``).

**RARTS** (Xue, Qi, Xin, "RARTS: An Efficient First-Order Relaxed Architecture Search
Method", IEEE Access 2022, arXiv:2008.03901) splits the network too: one copy ``w`` is fit on
the training half, a second copy ``y`` on the validation half, coupled by a proximity term,
and both share ``α``. The relaxed single-level objective is

    (3)  L_β(w, y, α) = L_val(y, α) + λ · L_train(w, α) + (β / 2) · ‖y − w‖²

minimised by Gauss–Seidel gradient steps with first-order gradients only:

    (4a) w⁺ = w − η_w [ λ ∇_w L_train(w, α) + β (w − y) ]
    (4b) y⁺ = y − η_y [ ∇_y L_val(y, α) + β (y − w⁺) ]
    (4c) α⁺ = α − η_α [ ∇_α L_val(y⁺, α) + λ ∇_α L_train(w⁺, α) ]

so the architecture sees both halves of the data and no mixed second derivative appears.
With ``fresh_alpha=False`` the α gradient of (4c) is taken from the passes of (4a) and (4b),
i.e. at ``(w, y)`` instead of ``(w⁺, y⁺)`` (a Jacobi step for α): two forward/backward passes
per iteration instead of four, the same as first-order DARTS, and the same fixed point.
``λ`` (``lam``) weights the training loss and ``β`` (``beta``) is the coupling strength;
as β → ∞ the copies merge, and at λ, β → ∞ the fixed point of (4) approaches the bilevel
solution. The numbering (3)–(4c) is this module's: the paper was not available offline when
this was written, so check it against the paper's own numbering before citing one.

Both updates take the parameter groups, their optimizers and zero-argument loss closures
(each evaluates the loss on the current batch with the current parameters), so the same
functions drive the toy problem of the tests and the cell networks of the space. The
optimizer of each group applies its own learning rate η (and momentum or Adam moments).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Loss = Callable[[], Tensor]
Params = Sequence[Tensor]


def set_grads(params: Params, grads: Sequence[Tensor | None]) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.zeros_like(p) if g is None else g.detach()


def grads_of(loss: Tensor, params: Params) -> list[Tensor | None]:
    """``∂loss/∂p`` for each of ``params`` only (None where ``p`` does not affect it)."""
    return list(torch.autograd.grad(loss, list(params), allow_unused=True))


def add_proximity(grads: list[Tensor | None], mine: Params, other: Params, beta: float) -> list[Tensor]:
    """``g + β (mine − other)``: the gradient of ``β/2 ‖mine − other‖²`` added to ``g``."""
    out = []
    for g, a, b in zip(grads, mine, other, strict=True):
        prox = beta * (a.detach() - b.detach())
        out.append(prox if g is None else g + prox)
    return out


def clip(params: Params, max_norm: float | None) -> None:
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(list(params), max_norm)


def rarts_step(
    w: Params,
    y: Params,
    alpha: Params,
    opt_w: torch.optim.Optimizer,
    opt_y: torch.optim.Optimizer,
    opt_a: torch.optim.Optimizer,
    train_w: Loss,
    val_y: Loss,
    lam: float,
    beta: float,
    max_norm: float | None = None,
    fresh_alpha: bool = True,
) -> dict[str, float]:
    """One RARTS iteration, (4a)–(4c). Returns the losses it saw."""
    na = 0 if fresh_alpha else len(alpha)
    lt = train_w()  # (4a)
    g = grads_of(lam * lt, [*w, *alpha][: len(w) + na])
    set_grads(w, add_proximity(g[: len(w)], w, y, beta))
    clip(w, max_norm)
    opt_w.step()
    lv = val_y()  # (4b)
    h = grads_of(lv, [*y, *alpha][: len(y) + na])
    set_grads(y, add_proximity(h[: len(y)], y, w, beta))
    clip(y, max_norm)
    opt_y.step()
    if fresh_alpha:  # (4c) at (w⁺, y⁺)
        ga = grads_of(val_y() + lam * train_w(), alpha)
    else:  # (4c) at (w, y), from the passes above
        ga = [_add(a, b) for a, b in zip(g[len(w) :], h[len(y) :], strict=True)]
    set_grads(alpha, ga)
    opt_a.step()
    return {"train_loss": lt.item(), "val_loss": lv.item()}


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return b if a is None else a if b is None else a + b


def darts1_step(
    w: Params,
    alpha: Params,
    opt_w: torch.optim.Optimizer,
    opt_a: torch.optim.Optimizer,
    train_w: Loss,
    val_w: Loss,
    max_norm: float | None = None,
) -> dict[str, float]:
    """One first-order DARTS iteration: α on the validation loss, then w on the training loss."""
    lv = val_w()
    set_grads(alpha, grads_of(lv, alpha))
    opt_a.step()
    lt = train_w()
    set_grads(w, grads_of(lt, w))
    clip(w, max_norm)
    opt_w.step()
    return {"train_loss": lt.item(), "val_loss": lv.item()}
