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
    first = unembedding_matrix(model)
    assert unembedding_matrix(model) is first  # kept, not rebuilt per call
    with torch.no_grad():
        model.output.weight.mul_(2.0)  # an in-place update, as an optimizer step makes
    hidden = torch.randn(2, model.config.dim)
    torch.testing.assert_close(decode_logits(model, hidden), model.unembed(hidden), rtol=1e-5, atol=1e-5)
    model.output.weight = torch.nn.Parameter(torch.zeros_like(model.output.weight))  # a replaced tensor
    assert decode_logits(model, hidden).abs().max() == 0
    assert "_decoding_unembedding" not in model.state_dict()
