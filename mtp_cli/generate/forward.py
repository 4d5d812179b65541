"""One cached forward of the model, stopped before the unembedding, and the unembedding for decoding.

Speculative decoding needs head 1's logits at every drafted position but the drafting heads' only at
the last accepted one, which differs per row and is known only after head 1 has verified; so the
forward returns hidden states (`MtpTransformer.hidden_states`) and the caller unembeds what it needs.
"""

from __future__ import annotations

import torch
from torch.utils.weak import WeakIdKeyDictionary

from mtp_cli.model import KVCache, MtpTransformer


def cached_forward(model: MtpTransformer, tokens: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(batch, seq) tokens continuing each row of `cache` -> the (batch, seq, dim) trunk output and one
    (batch, seq, dim) hidden state per head the cache serves (before the shared norm and unembedding);
    the cache advances by seq."""
    trunk, hidden = model.hidden_states(tokens, cache, heads=[])
    return trunk, [hidden[i] for i in range(cache.num_heads)]


def cached_hidden(model: MtpTransformer, tokens: torch.Tensor, cache: KVCache) -> list[torch.Tensor]:
    """`cached_forward` without the trunk output."""
    return cached_forward(model, tokens, cache)[1]


def at_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(batch, seq, ...) hidden states at one position per row -> (batch, ...)."""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), positions]


def decode_logits(model: MtpTransformer, hidden: torch.Tensor) -> torch.Tensor:
    """`model.unembed(hidden)` for decoding: float32 logits (float64 for a float64 model) of (..., dim)
    hidden states, every mode and every row through the same product. It runs in float32 even under
    autocast, so argmax and softmax never see logits rounded to bf16, where near-ties become ties."""
    with torch.autocast(hidden.device.type, enabled=False):
        normed = model.norm(hidden)
        matrix = unembedding_matrix(model)
        dtype = torch.promote_types(torch.promote_types(normed.dtype, matrix.dtype), torch.float32)
        return normed.to(dtype) @ matrix.to(dtype)


# weight -> (its version, storage address, dtype, transposed copy). Keyed by the tensor's identity and
# held weakly, so nothing is added to the model (its state, copies and pickles stay as they were) and
# a copy goes away with its weights.
_TRANSPOSED = WeakIdKeyDictionary()


def unembedding_matrix(model: MtpTransformer) -> torch.Tensor:
    """The unembedding as a (dim, vocab) matrix. Under no_grad or inference_mode on a CPU it is a
    contiguous copy made once per version of the weights: MKL multiplies a few rows by it faster than
    by the (vocab, dim) layout training keeps (one thread, 32k x 128, out of cache: 0.91 against
    1.32 ms for 4 rows, 1.03 against 1.57 for 7). A GPU's matrix products read either layout alike.

    The copy is rebuilt after an in-place update (the version counter), a replaced tensor or a
    `.to()` (storage address, dtype), and is made outside inference mode, so a later grad-enabled
    call never meets an inference tensor. With grad enabled the weight itself is used, so gradients
    reach it exactly as through `model.unembed`. Inference-tensor weights keep no version count and
    are never copied."""
    weight = model.output.weight
    if weight.device.type != "cpu" or torch.is_grad_enabled() or weight.is_inference():
        return weight.t()
    key = (weight._version, weight.data_ptr(), weight.dtype)  # any in-place update bumps _version
    kept = _TRANSPOSED.get(weight)
    if kept is None or kept[0] != key:
        with torch.inference_mode(False), torch.no_grad():
            kept = (key, weight.detach().t().contiguous())
        _TRANSPOSED[weight] = kept
    return kept[1]


@torch.inference_mode()
def sequence_logits(model: MtpTransformer, prompt: list[int], tokens: list[int]) -> torch.Tensor:
    """Head 1's logits where each of `tokens` was decided, from one uncached forward of prompt +
    tokens: (len(tokens), vocab). What the greedy contract (`mtp_cli.generate.speculative`) is
    measured against."""
    ids = torch.tensor([prompt + tokens], device=model.tok_embeddings.weight.device)
    _, hidden = model.hidden_states(ids, heads=[0])
    return decode_logits(model, hidden[0][0, len(prompt) - 1 : -1])


def argmax_shortfall(logits: torch.Tensor, tokens: list[int]) -> torch.Tensor:
    """(len(tokens),) how far each token's logit lies below the largest of its row: 0 for an argmax."""
    picked = logits.gather(-1, torch.tensor(tokens, device=logits.device)[:, None]).squeeze(-1)
    return logits.max(-1).values - picked


def greedy_shortfall(model: MtpTransformer, prompt: list[int], tokens: list[int]) -> float:
    """How far the worst of `tokens` (decoded greedily after `prompt`) lies below head 1's largest
    logit in one uncached forward of the sequence: 0 when every one is the argmax there."""
    if not tokens:
        return 0.0
    return float(argmax_shortfall(sequence_logits(model, prompt, tokens), tokens).max())
