"""Training loops of TAS: plain and knowledge-distillation training, the unpruned teacher
(trained once per task, shape and seed, cached), and the search itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from search_spaces.tas.arch import Arch, Geometry, cost_loss, expected_flops, flops, full_arch
from search_spaces.tas.band import in_band
from search_spaces.tas.model import ResNet, SearchNet
from search_spaces.tasks.cache import cache_dir, write_atomic

TEACHER_VERSION = 1
BATCH = 64
EpochHook = Callable[[int], bool]  # called after each epoch (1-based); False stops training


@dataclass(frozen=True)
class Data:
    """Arrays of one task as tensors: train (weights), val (held out), test (reported)."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor

    @classmethod
    def of(cls, arrays: tuple[np.ndarray, ...]) -> Data:
        return cls(*(torch.from_numpy(a) for a in arrays))


def kd_loss(student: Tensor, teacher: Tensor, y: Tensor, temperature: float = 4.0, alpha: float = 0.9) -> Tensor:
    """``(1 - α)·CE(student, y) + α·T²·KL(softmax(teacher/T) ‖ softmax(student/T))`` (Hinton et al.)."""
    kl = F.kl_div(
        F.log_softmax(student / temperature, 1),
        F.log_softmax(teacher / temperature, 1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - alpha) * F.cross_entropy(student, y) + alpha * temperature**2 * kl


def kl_to_teacher(student: nn.Module, teacher: nn.Module, x: Tensor, temperature: float = 4.0) -> float:
    """Mean KL(teacher ‖ student) of the softened outputs on ``x`` (both in eval mode)."""
    student.eval()
    with torch.no_grad():
        t, s = teacher(x) / temperature, student(x) / temperature
        return float(F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), reduction="batchmean", log_target=True))


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy in eval mode."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    epochs: int,
    seed: int,
    teacher: nn.Module | None = None,
    lr: float = 3e-3,
    on_epoch: EpochHook | None = None,
) -> nn.Module:
    """Adam with cosine decay on shuffled batches of 64; cross-entropy, or :func:`kd_loss`
    against ``teacher`` when one is given. Returns ``model`` in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * -(-len(x) // BATCH)))
    if teacher is not None:
        teacher.eval()
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(BATCH):
            out = model(x[idx])
            if teacher is None:
                loss = F.cross_entropy(out, y[idx])
            else:
                with torch.no_grad():
                    target = teacher(x[idx])
                loss = kd_loss(out, target, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if on_epoch is not None and not on_epoch(epoch):
            break
    return model.eval()


def teacher_key(task: str, g: Geometry, epochs: int, seed: int) -> str:
    """Cache name of an unpruned network: task, seed and a digest of its shape and training."""
    digest = hashlib.sha1(json.dumps([asdict(g), epochs], sort_keys=True).encode()).hexdigest()[:10]
    return f"{task}-resnet-v{TEACHER_VERSION}-{digest}-seed{seed}"


def teacher(task: str, g: Geometry, data: Data, epochs: int, seed: int) -> ResNet:
    """The unpruned network trained on ``data``'s train split, cached under
    ``$NAS_CACHE_DIR/tas`` (written atomically) and reused by every trial with that seed."""
    model = ResNet(full_arch(g), g)
    path = cache_dir("tas") / f"{teacher_key(task, g, epochs, seed)}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    torch.manual_seed(seed)
    model = fit(ResNet(full_arch(g), g), data.x_train, data.y_train, epochs, seed)
    state = model.state_dict()
    write_atomic(path, lambda tmp: torch.save(state, tmp))
    return model


@dataclass(frozen=True)
class SearchSettings:
    """One TAS search: FLOPs target (a fraction of the unpruned FLOPs), Gumbel temperature
    decayed linearly from ``tau_start`` to ``tau_end``, cost-loss weight λ and epochs."""

    target: float = 0.5
    tau_start: float = 10.0
    tau_end: float = 0.1
    cost_weight: float = 2.0
    epochs: int = 4
    tolerance: float = 0.05
    weight_lr: float = 3e-3
    arch_lr: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.target <= 1:
            raise ValueError(f"FLOPs target {self.target!r} must be in (0, 1]: a fraction of the unpruned FLOPs")
        for name in ("tau_start", "tau_end"):
            if not getattr(self, name) > 0:
                raise ValueError(f"temperature {name}={getattr(self, name)!r} must be positive")
        if self.cost_weight < 0 or self.epochs < 1 or not 0 <= self.tolerance < 1:
            raise ValueError(
                f"cost_weight={self.cost_weight!r} must be >= 0, epochs={self.epochs!r} >= 1 and "
                f"tolerance={self.tolerance!r} in [0, 1)"
            )

    def tau(self, epoch: int) -> float:
        """Temperature of epoch ``epoch`` (0-based): linear from ``tau_start`` to ``tau_end``."""
        frac = epoch / max(1, self.epochs - 1)
        return self.tau_start + frac * (self.tau_end - self.tau_start)


@dataclass(frozen=True)
class SearchResult:
    arch: Arch  # the most likely network, brought inside the FLOPs band
    expected_flops: float
    history: list[dict[str, float]]
    argmax: Arch  # the most likely network as the search left it


def search(net: SearchNet, x: Tensor, y: Tensor, s: SearchSettings, seed: int) -> SearchResult:
    """Alternate, batch by batch, a weight step on one half of ``x`` (cross-entropy of the
    sampled network) and an architecture step on the other half (cross-entropy plus
    ``cost_weight`` times the cost loss); return the most likely network inside the FLOPs
    band (:func:`search_spaces.tas.band.in_band`; the argmax's FLOPs per epoch are in the
    history).

    Runs with oneDNN (mkldnn) convolutions off: with one thread, torch 2.13's oneDNN
    convolution backward corrupted the heap on this search's toy network ("corrupted
    double-linked list", then an abort), and the native kernels compute the same thing."""
    with torch.backends.mkldnn.flags(enabled=False):
        return _search(net, x, y, s, seed)


def _search(net: SearchNet, x: Tensor, y: Tensor, s: SearchSettings, seed: int) -> SearchResult:
    g, cand = net.geometry, net.candidates
    target = s.target * flops(full_arch(g), g)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=gen)
    half = len(x) // 2
    wx, wy, ax, ay = x[perm[:half]], y[perm[:half]], x[perm[half:]], y[perm[half:]]
    w_opt = torch.optim.Adam(net.weight_parameters(), lr=s.weight_lr)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=s.arch_lr, betas=(0.5, 0.999))
    history = []
    net.train()
    for epoch in range(s.epochs):
        tau = s.tau(epoch)
        a_order = torch.randperm(len(ax), generator=gen).split(BATCH)
        for k, idx in enumerate(torch.randperm(len(wx), generator=gen).split(BATCH)):
            w_opt.zero_grad()
            F.cross_entropy(net(wx[idx], tau, gen), wy[idx]).backward()
            w_opt.step()
            aidx = a_order[k % len(a_order)]
            a_opt.zero_grad()
            expected = expected_flops(net.distributions(), cand, g)
            loss = F.cross_entropy(net(ax[aidx], tau, gen), ay[aidx])
            loss = loss + s.cost_weight * cost_loss(expected, flops(net.derived(), g), target, s.tolerance)
            loss.backward()
            a_opt.step()
        arch = net.derived()
        history.append(
            {"epoch": epoch + 1, "tau": tau, "argmax_flops": flops(arch, g), "expected_flops": float(expected.detach())}
        )
    with torch.no_grad():
        p = net.distributions()
        final = float(expected_flops(p, cand, g))
    return SearchResult(in_band(p, cand, g, target, s.tolerance), final, history, net.derived())
