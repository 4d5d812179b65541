"""The multi-token prediction model: a shared trunk, n heads, one shared norm and unembedding.

Knows nothing of training or the CLI. Inference API (what `mtp generate` builds on):

    from mtp_cli.model import load_checkpoint
    model, config, tokenizer_json = load_checkpoint("RUN")     # a run, its checkpoints/, or a step folder
    # model is in eval mode on CPU; model.to("cuda"); wrap calls in torch.inference_mode()

    out = model(tokens)                       # tokens: (batch, seq) int64
    out.logits                                # (batch, seq, n, vocab); [..., i, :] is head i
    out.trunk                                 # (batch, seq, dim) trunk output

    model(tokens, heads=[0], last=1).logits   # head 0 (next token) at the last position: (batch, 1, 1, vocab)

Heads are 0-based indices: head i predicts the token i + 1 positions ahead; head 0 alone is an
ordinary next-token model (`config.n_future_tokens` heads in all).

Incremental decoding with a KV cache (one per trunk block and per head block, every row with its own
length, so rows may accept different numbers of drafted tokens):

    cache = model.new_cache(batch_size, max_len, heads=None)  # heads=k: cache heads 0..k-1 only
    out = model(prompt, cache)                # prefill; cache.lengths advance by prompt.shape[1]
    out = model(next_tokens, cache, heads=[0, 1, 2, 3], last=1)
    cache.truncate(lengths)                   # roll back rejected drafts: an int, or one per row
    cache.lengths                             # (batch,) int64; cache.length when all rows agree

With a cache, every head the cache serves runs its block on every new token (so its cache stays
complete) even when its logits are not asked for. Rows of different prompt lengths: right-pad,
prefill, then `cache.truncate(per_row_lengths)`; padding beyond a row's length is never attended to.
Keys are stored in the dtype of the computation (bf16 under CUDA autocast).

Lower-level pieces (training uses them): `model.trunk(tokens) -> h`, `model.head(i, h) -> hidden`,
`model.unembed(hidden) -> logits` (in the computation's dtype: bf16 under autocast;
`mtp_cli.generate.forward.decode_logits` gives decoding's float32 ones).
"""

from mtp_cli.artifacts.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "cache": "KVCache",
    "checkpoint": "load_checkpoint read_checkpoint_config resolve_checkpoint write_model_files",
    "config": "PRESETS ModelConfig build_config parse_override",
    "flops": "train_flops_per_token",
    "transformer": "MtpOutput MtpTransformer",
})
