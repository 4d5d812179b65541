"""`mtp generate`: KV-cached decoding, greedy or sampled, and self-speculative decoding (sampling
exact, greedy up to near-ties: see `speculative`).

    from mtp_cli.generate import GenerateConfig, generate_samples
    manifest = generate_samples(GenerateConfig(checkpoint="RUN", out="samples.jsonl", dataset="humaneval",
                                               mode="speculative"))

Modules, one concept each: `prompts` (where prompts come from), `sampling` (logits -> tokens),
`stopping` (EOS, limits, stop sequences), `forward` (a cached forward stopped before the
unembedding), `rows` (a decoding batch's bookkeeping), `decode` (plain decoding), `speculative`
(self-speculative decoding), `output` (samples file and totals), `run` (the whole step).
The decoding functions (`decode_plain`, `decode_speculative`) take token ids and return tokens, so
benchmarks and tests call them directly.
"""

from mtp_cli.artifacts.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "config": "MODES GenerateConfig",
    "decode": "decode_plain",
    "prompts": "Prompt PromptSet load_prompt_set",
    "rows": "RowResult",
    "run": "encode_prompts generate_samples load_model",
    "sampling": "SamplingParams probabilities",
    "speculative": "decode_speculative",
    "stopping": "StopChecker cut_at_stop token_bytes",
})
