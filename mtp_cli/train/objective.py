"""The multi-token loss and its backward, in the method's memory-efficient order or naively.

Memory-efficient order (the paper's Fig. 2): the trunk runs forward once; its output is detached
into a leaf `z`; each head in turn runs forward, computes logits and loss, and backpropagates into
its own weights, the shared unembedding and `z.grad`, after which its logits and graph are freed;
finally one backward through the trunk from `z.grad`. Peak memory holds the trunk's activations plus
one head's, instead of all n heads' logits at once. The naive order (one summed loss, one backward)
exists so the benchmark can show the difference; both give the same gradients.

Each head's loss is a sum of cross-entropies scaled by weight / (real targets of that head in the
whole optimizer step), so micro-batches add up to exactly the step's weighted mean. The cross-entropy
is mtp_cli.train.loss's, which makes fewer vocabulary-wide passes and tensors than F.cross_entropy.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from mtp_cli.model import MtpTransformer
from mtp_cli.train.loss import cross_entropy


@dataclass
class HeadSums:
    """Per-head sums over the rows seen so far: loss, correct top-1 predictions, real targets.

    The sums move to the device of the first values added, so adding never waits for an accelerator;
    reading them (mean_loss, accuracy) does, once.
    """

    loss: torch.Tensor  # (n,) float64
    correct: torch.Tensor  # (n,) int64
    count: torch.Tensor  # (n,) int64

    @classmethod
    def zeros(cls, n: int) -> "HeadSums":
        return cls(torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long))

    def add(self, index: int, loss: torch.Tensor, correct: torch.Tensor, count: torch.Tensor) -> None:
        if self.loss.device != loss.device:
            self.loss, self.correct, self.count = (t.to(loss.device) for t in (self.loss, self.correct, self.count))
        self.loss[index] += loss.detach().double()
        self.correct[index] += correct
        self.count[index] += count

    def mean_loss(self) -> list[float]:
        return (self.loss / self.count.clamp(min=1)).tolist()

    def accuracy(self) -> list[float]:
        return (self.correct.double() / self.count.clamp(min=1)).tolist()


def head_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed cross-entropy, correct top-1 count, real target count) of one head's logits.

    A target tied with another token for the largest logit counts as correct (see mtp_cli.train.loss).
    """
    return cross_entropy(logits, targets)


def _head_trains(model: MtpTransformer, index: int) -> bool:
    return any(p.requires_grad for p in model.head_module(index).parameters())


def backward_efficient(
    model: MtpTransformer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    scales: list[float],
    sums: HeadSums,
    autocast: AbstractContextManager,
) -> None:
    """Accumulate the gradients of sum_k scales[k] * CE_k into the parameters, one head at a time."""
    trunk_trains = any(p.requires_grad for p in model.trunk_parameters())
    rope = model.rope(inputs.shape[1], inputs.device)
    with autocast:
        h = model.trunk(inputs, rope)
    z = h.detach().requires_grad_(trunk_trains)
    for k, scale in enumerate(scales):
        with torch.set_grad_enabled(trunk_trains or _head_trains(model, k)):
            with autocast:
                logits = model.unembed(model.head(k, z, rope))
            loss, correct, count = head_loss(logits, targets[k])
        sums.add(k, loss, correct, count)
        if loss.requires_grad and scale:
            (loss * scale).backward()
        del logits, loss  # frees this head's logits before the next head's
    if trunk_trains and z.grad is not None:
        h.backward(z.grad)


def backward_naive(
    model: MtpTransformer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    scales: list[float],
    sums: HeadSums,
    autocast: AbstractContextManager,
) -> None:
    """The same gradients with every head's logits alive until one backward."""
    rope = model.rope(inputs.shape[1], inputs.device)
    with autocast:
        h = model.trunk(inputs, rope)
        all_logits = [model.unembed(model.head(k, h, rope)) for k in range(len(scales))]
    total = 0.0
    for k, (logits, scale) in enumerate(zip(all_logits, scales)):
        loss, correct, count = head_loss(logits, targets[k])
        sums.add(k, loss, correct, count)
        if scale:  # as in the efficient order, a zero-weight head gets no gradient (and no decay)
            total = total + loss * scale
    if isinstance(total, torch.Tensor) and total.requires_grad:
        total.backward()
