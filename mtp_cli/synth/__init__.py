"""Synthetic tasks where multi-token prediction shows at small scale (the paper's §4): data and problems.

    from mtp_cli.synth import PolynomialSettings, write_polynomials
    write_polynomials(PolynomialSettings(out="data/poly", seed=0))

Each task writes `train.jsonl` ({"text"}: what `mtp tokenize` reads), `test.jsonl` ({"task_id",
"prompt", "answer", ...}: what `mtp generate --prompts` reads) and `manifest.json` (kind "synthetic").
"""

from mtp_cli.synth.write import InductionSettings, PolynomialSettings, write_induction, write_polynomials

__all__ = ["InductionSettings", "PolynomialSettings", "write_induction", "write_polynomials"]
