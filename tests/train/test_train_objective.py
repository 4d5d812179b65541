"""The memory-efficient head order computes the same gradients as the naive one, for every head type
(parallel, linear, and the chained causal and anticausal heads) and with a window head."""

from __future__ import annotations

import contextlib

import pytest
import torch

from mtp_cli.model import MtpTransformer, build_config
from mtp_cli.train.data import IGNORE, micro_batches
from mtp_cli.train.objective import HeadSums, backward_efficient, backward_naive
from mtp_cli.train.setup import freeze_next_token_model

V, T, N = 61, 16, 4


def batch(rows: int = 4):
    torch.manual_seed(1)
    inputs = torch.randint(0, V, (rows, T))
    targets = torch.randint(0, V, (N, rows, T))
    targets[:, -1, -5:] = IGNORE  # a padded tail
    return inputs, targets


def gradients(model, backward, inputs, targets, weights, micro=None, window_scale=0.0):
    model.zero_grad(set_to_none=True)
    counts = (targets != IGNORE).sum(dim=(1, 2))
    scales = [w / int(c) for w, c in zip(weights, counts)]
    sums = HeadSums.zeros(N)
    for x, y in micro_batches(inputs, targets, micro or inputs.shape[0]):
        backward(model, x, y, scales, sums, contextlib.nullcontext(), window_scale)
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return grads, sums


def new_model(**overrides):
    torch.manual_seed(0)
    config = build_config("tiny", {"vocab_size": V, "dim": 32, "n_heads": 2, "n_future_tokens": N, **overrides})
    return MtpTransformer(config)


HEAD_TYPES = [{}, {"head_type": "linear"}, {"tie_embeddings": True}, {"head_type": "causal"}, {"head_type": "anticausal"}]


@pytest.mark.parametrize("overrides", HEAD_TYPES)
@pytest.mark.parametrize("weights", [[1.0] * N, [1.0, 0.5, 0.0, 2.0]])
def test_efficient_and_naive_gradients_match(overrides, weights):
    model = new_model(**overrides)
    inputs, targets = batch()
    efficient, sums_e = gradients(model, backward_efficient, inputs, targets, weights)
    naive, sums_n = gradients(model, backward_naive, inputs, targets, weights)
    # A zero-weight parallel head gets no gradient; a chained one still gets the heads' above it.
    idle = set() if weights[2] or model.config.chained_heads else {n for n, _ in model.extra_heads[1].named_parameters(prefix="extra_heads.1")}
    assert efficient.keys() == naive.keys() == {n for n, _ in model.named_parameters()} - idle
    for name in naive:
        torch.testing.assert_close(efficient[name], naive[name], atol=1e-6, rtol=1e-5, msg=name)
    torch.testing.assert_close(sums_e.loss, sums_n.loss)
    assert torch.equal(sums_e.count, sums_n.count)


@pytest.mark.parametrize("head_type", ["transformer", "causal", "anticausal"])
def test_gradient_equals_autograd_of_the_mean_loss(head_type):
    model = new_model(head_type=head_type)
    inputs, targets = batch()
    efficient, _ = gradients(model, backward_efficient, inputs, targets, [1.0] * N)
    model.zero_grad()
    logits = model(inputs).logits  # (rows, T, N, V)
    loss = sum(
        torch.nn.functional.cross_entropy(logits[:, :, k].reshape(-1, V), targets[k].reshape(-1), ignore_index=IGNORE)
        for k in range(N)
    )
    loss.backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(efficient[name], p.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_micro_batches_add_up_to_the_full_batch():
    model = new_model()
    inputs, targets = batch(rows=5)
    whole, _ = gradients(model, backward_efficient, inputs, targets, [1.0] * N)
    split, _ = gradients(model, backward_efficient, inputs, targets, [1.0] * N, micro=2)
    for name in whole:
        torch.testing.assert_close(whole[name], split[name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("head_type", ["transformer", "causal"])
def test_frozen_next_token_model_gets_no_gradient(head_type):
    model = new_model(head_type=head_type)
    freeze_next_token_model(model)
    inputs, targets = batch()
    grads, sums = gradients(model, backward_efficient, inputs, targets, [1.0] * N)
    assert grads and all(name.startswith("extra_heads.") for name in grads)
    assert (sums.count > 0).all() and torch.isfinite(sums.loss).all()  # head 1 still measured


@pytest.mark.parametrize("backward", [backward_efficient, backward_naive])
def test_under_bf16_autocast_the_loss_gets_bf16_logits(backward, monkeypatch):
    # The loss upcasts chunk by chunk; logits made float32 before it would be a vocabulary-wide copy.
    import mtp_cli.train.objective as objective

    seen = []
    real = objective.cross_entropy

    def spy(logits, targets):
        seen.append(logits.dtype)
        return real(logits, targets)

    monkeypatch.setattr(objective, "cross_entropy", spy)
    model = new_model()
    inputs, targets = batch()
    sums = HeadSums.zeros(N)
    backward(model, inputs, targets, [1.0 / inputs.numel()] * N, sums, torch.autocast("cpu", dtype=torch.bfloat16))
    assert seen == [torch.bfloat16] * N
    _, exact = gradients(model, backward, inputs, targets, [1.0] * N)
    torch.testing.assert_close(sums.loss, exact.loss, rtol=2e-2, atol=0)  # the same loss, to bf16's precision
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("head_type, changed", [("transformer", [False, True, False, False]), ("causal", [False, True, True, True]), ("anticausal", [True, True, False, False])])
def test_which_heads_read_head_two(head_type, changed):
    """Causal head k reads head k-1's output; anticausal head k reads head k+1's, so head 1 reads them all."""
    inputs, _ = batch()
    model = new_model(head_type=head_type).eval()
    before = model(inputs).logits
    with torch.no_grad():
        model.extra_heads[0].attention.wo.weight.mul_(3.0)  # head 2's block
    after = model(inputs).logits
    assert [not torch.equal(before[:, :, k], after[:, :, k]) for k in range(N)] == changed


@pytest.mark.parametrize("head_type", ["transformer", "causal", "anticausal"])
def test_window_head_gradients_match_and_equal_the_dense_loss(head_type):
    w = 6  # more than N: the rows carry 6 shifted targets
    model = new_model(head_type=head_type, window_size=w)
    torch.manual_seed(1)
    inputs = torch.randint(0, V, (3, T))
    targets = torch.randint(0, V, (w, 3, T))
    targets[:, -1, -4:] = IGNORE
    whole = int((targets[w - 1] != IGNORE).sum())
    efficient, sums_e = gradients(model, backward_efficient, inputs, targets, [1.0] * N, window_scale=0.5 / whole)
    naive, sums_n = gradients(model, backward_naive, inputs, targets, [1.0] * N, window_scale=0.5 / whole)
    assert any(name.startswith("window_head.") for name in efficient)
    for name in naive:
        torch.testing.assert_close(efficient[name], naive[name], atol=1e-6, rtol=1e-5, msg=name)
    torch.testing.assert_close(sums_e.window, sums_n.window)
    # The window head's gradient is that of the dense multi-label loss, written the obvious way.
    model.zero_grad()
    logits = model.window_logits(model.trunk(inputs))
    labels = torch.zeros(3, T, V).scatter_(2, targets.permute(1, 2, 0).clamp(min=0), 1.0)
    counted = (targets != IGNORE).all(dim=0)
    dense = torch.nn.functional.binary_cross_entropy_with_logits(logits[counted], labels[counted], reduction="sum")
    (dense * 0.5 / whole).backward()
    for name, p in model.window_head.named_parameters(prefix="window_head"):
        torch.testing.assert_close(efficient[name], p.grad, atol=1e-6, rtol=1e-5, msg=name)
