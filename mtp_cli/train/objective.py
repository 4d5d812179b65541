"""The multi-token loss and its backward, in the method's memory-efficient order or naively.

Memory-efficient order (the paper's Fig. 2): the trunk runs forward once; its output is detached
into a leaf `z`; each head in turn runs forward, computes logits and loss, and backpropagates into
its own weights, the shared unembedding and `z.grad`, after which its logits and graph are freed;
finally one backward through the trunk from `z.grad`. Peak memory holds the trunk's activations plus
one head's, instead of all n heads' logits at once. The naive order (one summed loss, one backward)
exists so the benchmark can show the difference; both give the same gradients.

Chained heads (causal, anticausal: `MtpTransformer.head_source`) use the order of the paper's Fig. S11:
every head's block runs forward once, each from a detached copy of the output it reads; then, from
the head farthest from the trunk down, each head computes its logits and loss and backpropagates its
own loss's gradient plus the gradient the heads above it left at its output, which arrives at its
input for the head below. Again one head's logits are alive at a time.

The window head (`--window-loss`) reads the trunk like a parallel head; its loss is mtp_cli.train.window's.

Each head's loss is a sum of cross-entropies scaled by weight / (real targets of that head in the
whole optimizer step), so micro-batches add up to exactly the step's weighted mean. The cross-entropy
is mtp_cli.train.loss's, which makes fewer vocabulary-wide passes and tensors than F.cross_entropy.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from mtp_cli.model import ModelConfig, MtpTransformer
from mtp_cli.model.transformer import Rope
from mtp_cli.train.loss import cross_entropy
from mtp_cli.train.window import WindowSums, window_loss, window_tokens


@dataclass
class HeadSums:
    """Per-head sums over the rows seen so far: loss, correct top-1 predictions, real targets; and
    the window head's (`WindowSums`: zero without one).

    The sums move to the device of the first values added, so adding never waits for an accelerator;
    reading them (mean_loss, accuracy) does, once.
    """

    loss: torch.Tensor  # (n,) float64
    correct: torch.Tensor  # (n,) int64
    count: torch.Tensor  # (n,) int64
    window: torch.Tensor  # (4,) float64: loss, positions, distinct window tokens, hits in the top w

    @classmethod
    def zeros(cls, n: int) -> "HeadSums":
        return cls(
            torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long),
            torch.zeros(4, dtype=torch.float64),
        )

    def _follow(self, device: torch.device) -> None:
        if self.loss.device != device:
            self.loss, self.correct, self.count, self.window = (t.to(device) for t in (self.loss, self.correct, self.count, self.window))

    def add(self, index: int, loss: torch.Tensor, correct: torch.Tensor, count: torch.Tensor) -> None:
        self._follow(loss.device)
        self.loss[index] += loss.detach().double()
        self.correct[index] += correct
        self.count[index] += count

    def add_window(self, sums: WindowSums) -> None:
        self._follow(sums.loss.device)
        self.window += torch.stack([sums.loss.detach().double(), *(t.double() for t in (sums.positions, sums.distinct, sums.hits))])

    def mean_loss(self) -> list[float]:
        return (self.loss / self.count.clamp(min=1)).tolist()

    def accuracy(self) -> list[float]:
        return (self.correct.double() / self.count.clamp(min=1)).tolist()

    def window_metrics(self) -> dict[str, float]:
        """The window head's loss per position and recall, or {} without a window head."""
        loss, positions, distinct, hits = self.window.tolist()
        if not positions:
            return {}
        return {"window_loss": loss / positions, "window_recall": hits / max(distinct, 1.0)}


def lookahead(config: ModelConfig) -> int:
    """How many shifted targets a row needs: one per head, and the window head's w."""
    return max(config.n_future_tokens, config.window_size)


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
    window_scale: float = 0.0,
) -> None:
    """Accumulate the gradients of sum_k scales[k] * CE_k (+ window_scale * the window loss) into the
    parameters, one head at a time. `targets` (lookahead, batch, seq): head k's are targets[k]."""
    trunk_trains = any(p.requires_grad for p in model.trunk_parameters())
    rope = model.rope(inputs.shape[1], inputs.device)
    with autocast:
        h = model.trunk(inputs, rope)
    z = h.detach().requires_grad_(trunk_trains)
    if model.config.chained_heads:
        _chained_heads_backward(model, z, rope, targets, scales, sums, autocast, trunk_trains)
    else:
        for k, scale in enumerate(scales):
            with torch.set_grad_enabled(trunk_trains or _head_trains(model, k)):
                with autocast:
                    logits = model.unembed(model.head(k, z, rope))
                loss, correct, count = head_loss(logits, targets[k])
            sums.add(k, loss, correct, count)
            if loss.requires_grad and scale:
                (loss * scale).backward()
            del logits, loss  # frees this head's logits before the next head's
    if model.window_head is not None:
        _window_backward(model, z, rope, targets, window_scale, sums, autocast)
    if trunk_trains and z.grad is not None:
        h.backward(z.grad)


def _chained_heads_backward(
    model: MtpTransformer,
    z: torch.Tensor,
    rope: Rope,
    targets: torch.Tensor,
    scales: list[float],
    sums: HeadSums,
    autocast: AbstractContextManager,
    trunk_trains: bool,
) -> None:
    """The chained heads' part of `backward_efficient`: forward up the chain, backward down it."""
    inputs: dict[int, torch.Tensor] = {}
    outputs: dict[int, torch.Tensor] = {}
    below_trains = trunk_trains  # does anything under the current head train?
    for k in model.chain_order():
        source = model.head_source(k)
        x = z if source is None else outputs[source].detach().requires_grad_(below_trains)
        below_trains = below_trains or _head_trains(model, k)
        with torch.set_grad_enabled(below_trains), autocast:
            inputs[k], outputs[k] = x, model.head(k, x, rope)
    carry: dict[int, torch.Tensor] = {}  # head -> the gradient the heads above left at its output
    for k in reversed(model.chain_order()):
        with torch.set_grad_enabled(outputs[k].requires_grad):
            with autocast:
                logits = model.unembed(outputs[k])
            loss, correct, count = head_loss(logits, targets[k])
        sums.add(k, loss, correct, count)
        roots = [(loss * scales[k], None)] if loss.requires_grad and scales[k] else []
        if k in carry:
            roots.append((outputs[k], carry.pop(k)))
        if roots:
            torch.autograd.backward([r for r, _ in roots], [g for _, g in roots])
        del logits, loss
        source = model.head_source(k)
        if source is not None and inputs[k].grad is not None:
            carry[source] = inputs[k].grad
        del outputs[k]


def _window_backward(
    model: MtpTransformer,
    z: torch.Tensor,
    rope: Rope,
    targets: torch.Tensor,
    scale: float,
    sums: HeadSums,
    autocast: AbstractContextManager,
) -> None:
    trains = z.requires_grad or any(p.requires_grad for p in model.window_head.parameters())
    with torch.set_grad_enabled(trains):
        with autocast:
            logits = model.window_logits(z, rope)
        window = window_loss(logits, window_tokens(targets, model.config.window_size))
    sums.add_window(window)
    if window.loss.requires_grad and scale:
        (window.loss * scale).backward()


def backward_naive(
    model: MtpTransformer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    scales: list[float],
    sums: HeadSums,
    autocast: AbstractContextManager,
    window_scale: float = 0.0,
) -> None:
    """The same gradients with every head's logits alive until one backward."""
    rope = model.rope(inputs.shape[1], inputs.device)
    with autocast:
        h = model.trunk(inputs, rope)
        hidden = model.run_heads(h, list(range(len(scales))), rope)
        all_logits = [model.unembed(hidden[k]) for k in range(len(scales))]
    total = 0.0
    for k, (logits, scale) in enumerate(zip(all_logits, scales)):
        loss, correct, count = head_loss(logits, targets[k])
        sums.add(k, loss, correct, count)
        if scale:  # as in the efficient order, a zero-weight head gets no gradient (and no decay)
            total = total + loss * scale
    if model.window_head is not None:
        with autocast:
            window_logits = model.window_logits(h, rope)
        window = window_loss(window_logits, window_tokens(targets, model.config.window_size))
        sums.add_window(window)
        if window_scale:
            total = total + window.loss * window_scale
    if isinstance(total, torch.Tensor) and total.requires_grad:
        total.backward()
