"""BoTorch's GPs evaluated in plain dense torch, for ``mobo``: the training loss of a fit
and the posterior the analytic acquisition scores with.

gpytorch evaluates a kernel through modules and lazy linear operators; on the 20–200
points ``mobo`` fits, that machinery, not arithmetic, is most of the cost of a call
(``benchmarks/mobo_costs.py``: 8.8 ms a loss evaluation with its gradient at 100 points,
5.0 ms here). :func:`neg_mll` and :class:`Predictor` compute the
same values from the same fitted parameter tensors with a handful of dense tensor
operations (tests compare both with gpytorch's). They cover the models ``mobo`` builds
(scale, sum and product kernels over RBF and BoTorch's categorical kernel, a constant mean,
a Gaussian likelihood, standardized outcomes); :func:`supported` says whether a model is
made only of those, and one that is not takes the ordinary gpytorch path.
"""

from __future__ import annotations

import math

import torch
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import AdditiveKernel, Kernel, ProductKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean
from gpytorch.priors import LogNormalPrior, Prior
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def supported(model: GPyTorchModel) -> bool:
    """Whether :func:`neg_mll` reproduces ``model``'s exact marginal log likelihood."""
    return (
        isinstance(model.likelihood, GaussianLikelihood)
        and type(model.likelihood.noise_covar).__name__ == "HomoskedasticNoise"
        and isinstance(model.mean_module, ConstantMean)
        and isinstance(getattr(model, "outcome_transform", None), Standardize)
        and _kernel_supported(model.covar_module)
    )


def _kernel_supported(k: Kernel) -> bool:
    if isinstance(k, ScaleKernel):
        return _kernel_supported(k.base_kernel)
    if isinstance(k, AdditiveKernel | ProductKernel):
        return all(_kernel_supported(c) for c in k.kernels)
    return type(k) in (RBFKernel, CategoricalKernel)


def pairwise(k: Kernel, X1: Tensor, X2: Tensor | None = None) -> dict[int, Tensor]:
    """Per leaf kernel (keyed by ``id``), the hyperparameter-free part of ``k(X1, X2)``
    (``X2`` defaults to ``X1``): squared differences per dimension for RBF, mismatches per
    dimension for the categorical kernel (``n1 x n2 x d`` each). Computed once per fit."""
    X2 = X1 if X2 is None else X2
    if isinstance(k, ScaleKernel):
        return pairwise(k.base_kernel, X1, X2)
    if isinstance(k, AdditiveKernel | ProductKernel):
        return {key: v for c in k.kernels for key, v in pairwise(c, X1, X2).items()}
    A, B = ((X1, X2) if k.active_dims is None else (X1[..., k.active_dims], X2[..., k.active_dims]))
    if isinstance(k, RBFKernel):
        return {id(k): (A.unsqueeze(-2) - B.unsqueeze(-3)).pow(2)}
    return {id(k): (A.unsqueeze(-2) != B.unsqueeze(-3)).to(X1.dtype)}


def kernel_diag(k: Kernel) -> Tensor:
    """``k(x, x)`` (the same for every ``x`` for these kernels), shape the kernel's batch."""
    if isinstance(k, ScaleKernel):
        return k.outputscale * kernel_diag(k.base_kernel)
    if isinstance(k, AdditiveKernel):
        return sum((kernel_diag(c) for c in k.kernels), torch.zeros(()))
    if isinstance(k, ProductKernel):
        return math.prod((kernel_diag(c) for c in k.kernels), start=torch.ones(()))
    return torch.ones(k.lengthscale.shape[:-2], dtype=k.lengthscale.dtype)


def kernel_matrix(k: Kernel, P: dict[int, Tensor]) -> Tensor:
    """``k(X, X)`` as a dense ``batch x n x n`` tensor from ``P = pairwise(k, X)``."""
    if isinstance(k, ScaleKernel):
        return k.outputscale[..., None, None] * kernel_matrix(k.base_kernel, P)
    if isinstance(k, AdditiveKernel):
        return torch.stack(torch.broadcast_tensors(*(kernel_matrix(c, P) for c in k.kernels))).sum(0)
    if isinstance(k, ProductKernel):
        return torch.stack(torch.broadcast_tensors(*(kernel_matrix(c, P) for c in k.kernels))).prod(0)
    D = P[id(k)]  # n x n x d
    ls = k.lengthscale.squeeze(-2)  # batch x d
    if isinstance(k, RBFKernel):
        return torch.exp(-0.5 * torch.einsum("ijd,...d->...ij", D, ls.pow(-2)))
    return torch.exp(-torch.einsum("ijd,...d->...ij", D, ls.reciprocal()) / D.shape[-1])


def log_prior(prior: Prior, value: Tensor) -> Tensor:
    """``prior.log_prob(value)``, in closed form for the log-normal priors BoTorch puts on
    lengthscales and noise (torch.distributions' version validates and transforms on every
    call: a tenth of a fit's time measured)."""
    if type(prior) is LogNormalPrior:
        mu, sigma = prior.base_dist.loc, prior.base_dist.scale  # the prior's own dtype, as torch computes
        log_x = torch.log(value)
        return -((log_x - mu) ** 2) / (2 * sigma**2) - sigma.log() - _LOG_SQRT_2PI - log_x
    return prior.log_prob(value)


def training_inputs(model: GPyTorchModel) -> Tensor:
    """The ``n x d`` inputs the kernel sees (a batched multi-output model holds one copy
    per output; they are equal)."""
    X = model.transform_inputs(model.train_inputs[0])
    return X.reshape(-1, *X.shape[-2:])[0]


def neg_mll(model: GPyTorchModel, P: dict[int, Tensor] | None = None) -> Tensor:
    """The negated exact marginal log likelihood per output (shape: the model's batch),
    priors included, divided by the number of points: the value BoTorch's loss closure
    gives for ``ExactMarginalLogLikelihood`` in train mode. ``P``: :func:`pairwise` of the
    training inputs, computed here when not given."""
    if P is None:
        P = pairwise(model.covar_module, training_inputs(model))
    y = model.train_targets  # batch x n, already standardized
    n = y.shape[-1]
    K = kernel_matrix(model.covar_module, P)
    noise = model.likelihood.noise  # batch x 1
    K = K + torch.diag_embed(noise.expand(*noise.shape[:-1], n))
    r = (y - model.mean_module.constant.unsqueeze(-1)).unsqueeze(-1)
    L = psd_safe_cholesky(K)  # gpytorch's own: jitter 1e-8, 1e-7, 1e-6 where needed
    a = torch.linalg.solve_triangular(L, r, upper=False)
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    logp = -0.5 * (a.squeeze(-1).pow(2).sum(-1) + logdet + n * math.log(2 * math.pi))
    for _, module, prior, closure, _ in model.named_priors():
        term = log_prior(prior, closure(module))
        logp = logp + term.reshape(*term.shape[: logp.ndim], -1).sum(-1)
    return -logp / n


class Predictor:
    """The posterior mean and variance of a fitted (eval-mode) GP's outputs at new inputs,
    in plain torch, on the outputs' original scale: what ``model.posterior(X)`` gives
    (latent function, no observation noise) at a fraction of its cost.

    ``X_believed`` (``p x d``, optional): inputs conditioned on as if observed at their
    current posterior mean (the "kriging believer"): the mean stays, the variance near
    them shrinks. ``mobo`` uses it for running trials and for the points a batch has
    already chosen.
    """

    def __init__(self, model: GPyTorchModel, X_believed: Tensor | None = None) -> None:
        self.kernel = model.covar_module
        self.model = model
        X = training_inputs(model)
        y = model.train_targets
        self.batched = y.ndim > 1
        y = y if self.batched else y.unsqueeze(0)  # k x n, standardized
        self.constant = model.mean_module.constant.reshape(-1, 1)  # k x 1
        self.noise = model.likelihood.noise.reshape(-1, 1)  # k x 1
        tf = model.outcome_transform
        self.y_mean, self.y_std = tf.means.reshape(-1), tf.stdvs.reshape(-1)
        with torch.no_grad():
            self.prior_var = kernel_diag(self.kernel).reshape(-1, 1)  # k(x, x), k x 1
            if X_believed is not None and len(X_believed):
                Xb = model.transform_inputs(X_believed)
                mean_b, _ = self._standardized(Xb, *self._factor(X, y), X)
                X, y = torch.cat([X, Xb]), torch.cat([y, mean_b], dim=-1)
            self.X, (self.L, self.alpha) = X, self._factor(X, y)

    def _matrix(self, P: dict[int, Tensor], k: int) -> Tensor:
        K = kernel_matrix(self.kernel, P)
        return K if self.batched else K.unsqueeze(0).expand(k, *K.shape)

    def _factor(self, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        K = self._matrix(pairwise(self.kernel, X), len(y))
        L = psd_safe_cholesky(K + torch.diag_embed(self.noise.expand(-1, len(X))))
        alpha = torch.cholesky_solve((y - self.constant).unsqueeze(-1), L)
        return L, alpha

    def _standardized(self, Xt: Tensor, L: Tensor, alpha: Tensor, X: Tensor | None = None) -> tuple[Tensor, Tensor]:
        Kx = self._matrix(pairwise(self.kernel, Xt, self.X if X is None else X), len(alpha))  # k x N x n
        mean = (Kx @ alpha).squeeze(-1) + self.constant  # k x N
        v = torch.linalg.solve_triangular(L, Kx.transpose(-1, -2), upper=False)  # k x n x N
        var = (self.prior_var - v.pow(2).sum(-2)).clamp_min(1e-12)
        return mean, var

    def __call__(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``N x k`` means and variances at ``X`` (``N x d``, encoded inputs)."""
        mean, var = self._standardized(self.model.transform_inputs(X), self.L, self.alpha)
        return (mean.T * self.y_std + self.y_mean), var.T * self.y_std.pow(2)
