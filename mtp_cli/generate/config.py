"""Every setting of `mtp generate`, checked before any work starts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from mtp_cli.artifacts import MtpError
from mtp_cli.generate.sampling import SamplingParams

MODES = ("greedy", "sample", "speculative")


@dataclass
class GenerateConfig:
    checkpoint: Path
    out: Path
    dataset: str | None = None
    prompts: Path | None = None
    prompt: str | None = None
    mode: str = "greedy"
    num_samples: int = 1
    temperature: float | None = None  # None: 0 (greedy) for greedy/speculative, 1.0 for sample
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 512
    stop: list[str] = field(default_factory=list)  # added to the dataset's defaults
    batch_size: int = 16
    draft_heads: int | None = None  # None: every extra head the model has
    seed: int = 0
    device: str = "auto"
    limit: int | None = None  # only the first N prompts
    fixed_length: bool = False  # exactly max_new_tokens per sample: no stop sequences, EOS does not end it
    threads: int | None = None  # torch CPU threads; None: 1 (mtp_cli/model/threads.py), 0: one per core
    overwrite: bool = False  # replace an existing samples file at `out`
    problems: Path | None = None  # a problem file in HumanEval's or MBPP's format (its prompts and stops)

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
