"""Plain KV-cached decoding, greedy or sampled: one forward of head 1 per new token."""

from __future__ import annotations

import torch

from mtp_cli.generate.rows import RowResult, RowTracker, prefill
from mtp_cli.generate.forward import cached_hidden, decode_logits
from mtp_cli.generate.sampling import RowRandom, SamplingParams, argmax_tokens, draw, probabilities
from mtp_cli.generate.stopping import StopChecker
from mtp_cli.model import MtpTransformer


def next_token(logits: torch.Tensor, params: SamplingParams, rng: RowRandom | None) -> torch.Tensor:
    """(batch, vocab) head-1 logits -> (batch,) tokens."""
    if params.greedy:
        return argmax_tokens(logits)
    return draw(probabilities(logits, params), rng.uniforms(1)[:, 0])


@torch.inference_mode()
def decode_plain(
    model: MtpTransformer,
    prompts: list[list[int]],
    checker: StopChecker,
    params: SamplingParams,
    seeds: list[int] | None = None,
) -> list[RowResult]:
    rows = RowTracker(checker)
    rng = None if params.greedy else RowRandom(seeds, model.tok_embeddings.weight.device)
    cache, last, _ = prefill(model, prompts, heads=1, room=max(checker.limits) + 1)
    token = next_token(decode_logits(model, last[0]), params, rng)
    while not rows.take([[t] for t in token.tolist()]):
        hidden = cached_hidden(model, token[:, None], cache)[0]
        token = next_token(decode_logits(model, hidden[:, -1]), params, rng)
    return rows.results()
