"""Cross-entropy, top-1 correctness and the gradient of one head's logits, chunk by chunk over rows.

`F.cross_entropy` keeps a vocabulary-wide log-softmax alive for its backward, which then allocates
two more (rows, vocab) tensors (a one-hot gradient and the result); the top-1 accuracy is another
pass (argmax). Here the forward keeps only the log-sum-exp of each row and makes one cache-sized
pass per chunk of rows (max, log-sum-exp, the target's logit), and the backward writes
`grad_output * (softmax - onehot)` straight into the one gradient tensor it returns. Logits given
in bf16 (CUDA autocast) are upcast to float32 chunk by chunk, so no vocabulary-wide float32 copy is
made here.

Top-1 correctness is "the target's logit is the row's largest": a tie with another token counts as
correct, where `argmax` would pick the first of the tied tokens.
"""

from __future__ import annotations

import torch

from mtp_cli.train.data import IGNORE

# Elements of one chunk's float32 temporaries: on CPU about 1 MiB, so a chunk's passes stay in the
# cache; on an accelerator large chunks, so few kernels run.
CHUNK_ELEMENTS = {"cpu": 1 << 18}
DEFAULT_CHUNK_ELEMENTS = 1 << 26


def _chunks(logits: torch.Tensor, chunk_elements: int | None) -> list[slice]:
    size = chunk_elements or CHUNK_ELEMENTS.get(logits.device.type, DEFAULT_CHUNK_ELEMENTS)
    rows = max(1, size // max(1, logits.shape[1]))
    return [slice(start, start + rows) for start in range(0, logits.shape[0], rows)]


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, chunk_elements: int | None):
        real = targets != IGNORE
        picked_index = torch.where(real, targets, 0).unsqueeze(1)
        lse = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
        picked = torch.empty_like(lse)
        correct = torch.empty(logits.shape[0], dtype=torch.bool, device=logits.device)
        for rows in _chunks(logits, chunk_elements):
            x = logits[rows].float()
            row_max = x.amax(dim=1)
            shifted = torch.sub(x, row_max.unsqueeze(1))
            lse[rows] = shifted.exp_().sum(dim=1).log_().add_(row_max)
            picked[rows] = target_logit = x.gather(1, picked_index[rows]).squeeze(1)
            correct[rows] = target_logit >= row_max
        loss = torch.where(real, lse - picked, 0.0).sum()
        ctx.save_for_backward(logits, picked_index, real, lse)
        ctx.chunk_elements = chunk_elements
        ctx.mark_non_differentiable(correct)
        return loss, correct & real

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor, _grad_correct: torch.Tensor | None):
        logits, picked_index, real, lse = ctx.saved_tensors
        grad = torch.empty_like(logits)
        row_scale = torch.where(real, grad_loss, 0.0).unsqueeze(1)
        in_place = grad.dtype == torch.float32  # else each chunk is computed in float32, then rounded
        for rows in _chunks(logits, ctx.chunk_elements):
            g = torch.sub(logits[rows].float(), lse[rows].unsqueeze(1), out=grad[rows] if in_place else None)
            g.exp_()  # softmax
            g.scatter_add_(1, picked_index[rows], torch.full_like(g[:, :1], -1.0))
            g.mul_(row_scale[rows])
            if not in_place:
                grad[rows] = g
        return grad, None, None


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, chunk_elements: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed cross-entropy in float32, correct top-1 count, real target count).

    `logits` (..., vocab) in any float dtype, `targets` (...) with IGNORE where nothing is predicted;
    the loss and its gradient equal `F.cross_entropy(logits.float(), targets, reduction="sum")`'s.
    """
    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    loss, correct = _CrossEntropy.apply(flat_logits, flat_targets, chunk_elements)
    return loss, correct.sum(), (flat_targets != IGNORE).sum()
