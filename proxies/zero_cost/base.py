"""What every zero-cost proxy shares: the batch, the error, and small helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import Tensor, nn
from torch.nn import functional as F

ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.LeakyReLU)


class ProxyError(ValueError):
    """A proxy name is unknown or its input cannot be scored."""


@dataclass(frozen=True)
class Batch:
    """One minibatch: ``model(*inputs)`` gives the output, ``loss(output, labels)`` the loss.

    ``mask`` (``B x T``, optional) marks the real tokens of a sequence batch; proxies that
    read per-token activations skip padding with it.
    """

    inputs: tuple[Tensor, ...]
    labels: Tensor
    mask: Tensor | None = None
    loss: Callable[[Tensor, Tensor], Tensor] = field(default=F.cross_entropy)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Dropout off while scoring; the training flag is restored afterwards."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


def mean_loss_backward(model: nn.Module, batches: list[Batch]) -> None:
    """Accumulate ∂(mean over batches of the loss)/∂θ into every ``.grad`` (zeroed first)."""
    model.zero_grad(set_to_none=True)
    for b in batches:
        (b.loss(model(*b.inputs), b.labels) / len(batches)).backward()


def clear_grads(model: nn.Module) -> None:
    for p in model.parameters():
        p.grad = None


def weights(model: nn.Module) -> list[tuple[str, Tensor]]:
    """Every parameter that has a gradient after a backward pass."""
    return [(n, p) for n, p in model.named_parameters() if p.grad is not None]


__all__ = ["ACTIVATIONS", "Batch", "ProxyError", "clear_grads", "eval_mode", "mean_loss_backward", "weights"]
