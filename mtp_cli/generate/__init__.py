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

_EXPORTS = {
    "MODES": "config",
    "GenerateConfig": "config",
    "decode_plain": "decode",
    "Prompt": "prompts",
    "PromptSet": "prompts",
    "load_prompt_set": "prompts",
    "RowResult": "rows",
    "encode_prompts": "run",
    "generate_samples": "run",
    "load_model": "run",
    "SamplingParams": "sampling",
    "probabilities": "sampling",
    "decode_speculative": "speculative",
    "StopChecker": "stopping",
    "cut_at_stop": "stopping",
    "token_bytes": "stopping",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
