"""The unembedding decoding uses: the model's own, through a kept transposed copy on a CPU."""

from __future__ import annotations

import copy

import torch

from mtp_cli.generate.forward import decode_logits, unembedding_matrix


def test_equals_the_models_unembedding(loaded):
    model = loaded.model
    torch.manual_seed(0)
    for shape in [(1, 128), (4, 128), (3, 5, 128), (16, 4, 128)]:
        hidden = torch.randn(*shape[:-1], model.config.dim)
        got = decode_logits(model, hidden)
        assert got.dtype == torch.float32 and got.shape == (*shape[:-1], model.config.vocab_size)
        torch.testing.assert_close(got, model.unembed(hidden), rtol=1e-5, atol=1e-5)


def test_a_row_gets_the_same_logits_whatever_rows_come_with_it(loaded):
    # Greedy multiplies one row at a time, speculative decoding several: the argmax must not depend on it.
    model = loaded.model
    hidden = torch.randn(7, model.config.dim)
    together = decode_logits(model, hidden)
    for row in range(7):
        assert torch.equal(decode_logits(model, hidden[row : row + 1]).argmax(-1), together[row : row + 1].argmax(-1))


def test_the_kept_copy_follows_the_weights(loaded):
    model = copy.deepcopy(loaded.model)
    with torch.no_grad():
        first = unembedding_matrix(model)
        assert unembedding_matrix(model) is first  # kept, not rebuilt per call
        model.output.weight.mul_(2.0)  # an in-place update, as an optimizer step makes
        hidden = torch.randn(2, model.config.dim)
        torch.testing.assert_close(decode_logits(model, hidden), model.unembed(hidden), rtol=1e-5, atol=1e-5)
        model.output.weight = torch.nn.Parameter(torch.zeros_like(model.output.weight))  # a replaced tensor
        assert decode_logits(model, hidden).abs().max() == 0
    assert set(model.state_dict()) == set(loaded.model.state_dict())


def test_a_copy_made_while_decoding_leaves_training_calls_working(loaded):
    # Decoding runs under inference_mode; a copy made there must not be an inference tensor that a
    # later grad-enabled call saves for backward.
    model = copy.deepcopy(loaded.model)
    hidden = torch.randn(3, model.config.dim)
    with torch.inference_mode():
        decoded = decode_logits(model, hidden)
    logits = decode_logits(model, hidden)  # grad enabled: the weight itself, as model.unembed uses it
    logits.logsumexp(-1).sum().backward()
    assert model.output.weight.grad is not None and model.output.weight.grad.abs().sum() > 0
    torch.testing.assert_close(logits.detach(), decoded, rtol=1e-5, atol=1e-5)
    with torch.inference_mode():
        assert not unembedding_matrix(model).is_inference()


def test_the_kept_copy_follows_a_dtype_change_and_stays_off_the_model(loaded):
    model = copy.deepcopy(loaded.model)
    attributes = set(vars(model))
    hidden = torch.randn(2, model.config.dim)
    with torch.no_grad():
        decode_logits(model, hidden)
        assert set(vars(model)) == attributes  # nothing added to the model: copies and pickles as before
        model.double()  # the same Parameter object, new storage and dtype, same version
        got = decode_logits(model, hidden.double())
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, model.output(model.norm(hidden.double())), rtol=1e-9, atol=1e-9)


def test_under_bf16_autocast_decoding_logits_are_a_float32_product(loaded):
    model = loaded.model
    hidden = torch.randn(4, model.config.dim)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = decode_logits(model, hidden)
    assert got.dtype == torch.float32
    with torch.inference_mode():
        torch.testing.assert_close(got, decode_logits(model, hidden), rtol=1e-6, atol=1e-6)
