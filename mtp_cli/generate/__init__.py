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

from mtp_cli.generate.config import MODES, GenerateConfig
from mtp_cli.generate.decode import decode_plain
from mtp_cli.generate.prompts import Prompt, PromptSet, load_prompt_set
from mtp_cli.generate.rows import RowResult
from mtp_cli.generate.run import encode_prompts, generate_samples, load_model
from mtp_cli.generate.sampling import SamplingParams, probabilities
from mtp_cli.generate.speculative import decode_speculative
from mtp_cli.generate.stopping import StopChecker, cut_at_stop, token_bytes

__all__ = [
    "MODES",
    "GenerateConfig",
    "Prompt",
    "PromptSet",
    "RowResult",
    "SamplingParams",
    "StopChecker",
    "cut_at_stop",
    "decode_plain",
    "decode_speculative",
    "encode_prompts",
    "generate_samples",
    "load_model",
    "load_prompt_set",
    "probabilities",
    "token_bytes",
]
