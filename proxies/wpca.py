"""W-PCA: a gradient-free proxy for lightweight language models (Wang, ICLR 2025, arXiv 2504.15983).

For each FFN block ``l`` the first FFN projection's post-activation output over a few
minibatches of real token sequences is flattened to ``tokens x width`` (padding rows
dropped), centred, and its principal-component variances ``λ_1 ≥ λ_2 ≥ ...`` computed.
``k_l(η)`` is the least ``k`` with ``Σ_{i≤k} λ_i ≥ η Σ_i λ_i``. The proxy is

    W-PCA = params × Σ_l k_l(η)          (the paper's product form)
    PCA   = Σ_l k_l(η)                   (the paper's ablation without params)

``params`` counts the parameters outside ``nn.Embedding`` modules (with a 30,522-token
vocabulary the embedding table would otherwise swamp every block's size); pass ``n_params``
to use another count. FFN blocks are found by name: every module whose name ends in
``intermediate`` (Hugging Face BERT's convention: ``BertIntermediate`` returns the
activated first projection). Everything runs under ``torch.no_grad()`` in eval mode: no
gradient is computed and no ``.grad`` is touched. The weights are whatever the caller
built (seed the initialisation there); the computation itself is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from proxies.zero_cost.base import Batch, ProxyError, eval_mode

DEFAULT_ETA = 0.99
REL_TOL = 1e-12  # relative slack on the η threshold, so η = 1 is reachable in floating point


def check_eta(eta: float) -> float:
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not 0 < eta <= 1:
        raise ProxyError(f"eta={eta!r} must be a number in (0, 1], e.g. 0.99")
    return float(eta)


def pca_variances(x: Tensor) -> Tensor:
    """Variances along the principal components of the rows of ``x`` (``n x d``), descending."""
    if x.ndim != 2:
        raise ProxyError(f"PCA needs an n x d matrix, got shape {tuple(x.shape)}")
    xc = x.double() - x.double().mean(0, keepdim=True)
    gram = xc.T @ xc if xc.shape[0] >= xc.shape[1] else xc @ xc.T  # the smaller side
    lam = torch.linalg.eigvalsh(gram).clamp_min(0.0).flip(0)
    return lam / max(xc.shape[0] - 1, 1)


def count_for_eta(variances: Tensor, eta: float) -> int:
    """Least ``k`` whose top-``k`` components explain at least ``eta`` of the variance (0 when
    there is no variance at all)."""
    eta = check_eta(eta)
    total = float(variances.sum())
    if total <= 0.0:
        return 0
    cum = torch.cumsum(variances.double(), 0)
    return int((cum < eta * total * (1 - REL_TOL)).sum()) + 1


def pca_count(x: Tensor, eta: float = DEFAULT_ETA) -> int:
    """``k(η)`` of the rows of ``x``."""
    return count_for_eta(pca_variances(x), eta)


def ffn_layers(model: nn.Module) -> list[str]:
    """Names of the modules whose output is an FFN's activated first projection."""
    return [n for n, _ in model.named_modules() if n.split(".")[-1] == "intermediate"]


def ffn_activations(
    model: nn.Module, batches: Sequence[Batch], layers: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """``{layer: tokens x width}`` over ``batches`` (rows where ``mask`` is 0 dropped)."""
    names = list(ffn_layers(model) if layers is None else layers)
    if not names:
        raise ProxyError("no FFN layer found: W-PCA reads modules named '*.intermediate'")
    mods = dict(model.named_modules())
    rows: dict[str, list[Tensor]] = {n: [] for n in names}
    current: list[Tensor | None] = [None]

    def hook(name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def keep(_m: nn.Module, _i: tuple[Tensor, ...], out: Tensor) -> None:
            flat = out.reshape(-1, out.shape[-1])
            m = current[0]
            rows[name].append(flat if m is None else flat[m.reshape(-1).bool()])

        return keep

    handles = [mods[n].register_forward_hook(hook(n)) for n in names]
    try:
        with eval_mode(model), torch.no_grad():
            for b in batches:
                current[0] = b.mask
                model(*b.inputs)
    finally:
        for h in handles:
            h.remove()
    return {n: torch.cat(r) for n, r in rows.items()}


def layer_counts(
    model: nn.Module, batches: Sequence[Batch], eta: float = DEFAULT_ETA, layers: Sequence[str] | None = None
) -> dict[str, int]:
    """``{layer: k_l(η)}`` for every FFN layer."""
    check_eta(eta)
    return {n: pca_count(a, eta) for n, a in ffn_activations(model, batches, layers).items()}


def non_embedding_params(model: nn.Module) -> int:
    emb = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in emb)


def pca_score(model: nn.Module, batches: Sequence[Batch], eta: float = DEFAULT_ETA) -> float:
    """Σ_l k_l(η) (the paper's "PCA" ablation)."""
    return float(sum(layer_counts(model, batches, eta).values()))


def wpca_score(
    model: nn.Module, batches: Sequence[Batch], eta: float = DEFAULT_ETA, n_params: int | None = None
) -> float:
    """params × Σ_l k_l(η)."""
    params = non_embedding_params(model) if n_params is None else n_params
    return float(params) * pca_score(model, batches, eta)
