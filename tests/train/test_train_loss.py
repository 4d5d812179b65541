"""The chunked cross-entropy equals F.cross_entropy (loss and gradient) and argmax accuracy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mtp_cli.train.data import IGNORE
from mtp_cli.train.loss import cross_entropy

ROWS, V = 37, 101


def logits_and_targets(dtype: torch.dtype = torch.float32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(ROWS, V, generator=generator)).to(dtype)
    targets = torch.randint(0, V, (ROWS,), generator=generator)
    targets[::5] = IGNORE
    targets[1] = logits[1].argmax()  # at least one correct prediction
    return logits, targets


def reference(logits: torch.Tensor, targets: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    logits = logits.detach().requires_grad_()
    loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="sum")
    (loss * scale).backward()
    correct = int(((logits.argmax(-1) == targets) & (targets != IGNORE)).sum())
    return loss.detach(), logits.grad, correct


def ours(logits: torch.Tensor, targets: torch.Tensor, scale: float, chunk_elements: int | None = None):
    logits = logits.detach().requires_grad_()
    loss, correct, count = cross_entropy(logits, targets, chunk_elements)
    (loss * scale).backward()
    return loss.detach(), logits.grad, int(correct), int(count)


# None: the device's default (one chunk here); 50: under one row; 3 * V + 7: chunks that do not divide the rows.
@pytest.mark.parametrize("chunk_elements", [None, 50, 3 * V + 7])
def test_loss_gradient_and_accuracy_equal_the_reference(chunk_elements):
    logits, targets = logits_and_targets()
    loss, grad, correct, count = ours(logits, targets, 0.37, chunk_elements)
    ref_loss, ref_grad, ref_correct = reference(logits, targets, 0.37)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(grad, ref_grad)
    assert correct == ref_correct >= 1
    assert count == int((targets != IGNORE).sum())
    assert (grad[targets == IGNORE] == 0).all()


def test_bfloat16_logits_are_computed_in_float32():
    logits, targets = logits_and_targets(torch.bfloat16)
    loss, grad, correct, _ = ours(logits, targets, 1.0, chunk_elements=2 * V)
    ref_loss, ref_grad, ref_correct = reference(logits, targets, 1.0)
    assert loss.dtype == torch.float32 and grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(grad, ref_grad)
    assert correct == ref_correct


def test_batched_logits_and_no_grad():
    logits, targets = logits_and_targets()
    with torch.no_grad():
        loss, correct, count = cross_entropy(logits[:36].view(4, 9, V), targets[:36].view(4, 9))
    ref_loss, _, ref_correct = reference(logits[:36], targets[:36], 1.0)
    torch.testing.assert_close(loss, ref_loss)
    assert int(correct) == ref_correct and int(count) == int((targets[:36] != IGNORE).sum())


def test_all_targets_ignored():
    logits, _ = logits_and_targets()
    loss, grad, correct, count = ours(logits, torch.full((ROWS,), IGNORE), 1.0)
    assert float(loss) == 0.0 and correct == count == 0 and not grad.any()


def test_a_tie_for_the_largest_logit_counts_as_correct():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 0.0]])
    _, correct, _ = cross_entropy(logits, torch.tensor([2, 0]))
    assert int(correct) == 2  # argmax would give 1: it picks the first of tied tokens
