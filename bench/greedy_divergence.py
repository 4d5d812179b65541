"""How often self-speculative greedy decoding's output differs from plain greedy decoding's, and how
near a tie head 1's logits were where it first does (the contract in `mtp_cli.generate.speculative`).

Plain greedy runs one new position per forward and speculative decoding K+1, so their matrix products
sum in different orders and head 1's logits differ in the last bits; where the two best tokens are
that close, the argmax can flip and the outputs part ways. For each precision (fp32, and bf16: the
whole decode under bf16 autocast, on a CPU too), every prompt is decoded both ways in batches of
`--batch-size` rows, EOS ignored so that every row gets `--max-new-tokens` tokens. A full uncached
forward of each prompt + output, in the same precision, then gives head 1's logits at every emitted
position. The table shows:

- rows whose outputs differ, and where they first do (new tokens before it);
- the top-two gap of that full forward at the first difference, in the precision and in float64;
- the shortfall: how far an emitted token's logit lies below the top logit of the full forward, its
  largest over every token of each mode (the contract bounds it by `ARGMAX_TOLERANCE`).

    python bench/greedy_divergence.py CKPT [--prompts 500] [--max-new-tokens 256] [--batch-size 25]
                                      [--prompt-tokens 128] [--precisions fp32,bf16] [--draft-heads K]
                                      [--source DIR ...] [--threads 1] [--json OUT]

Prompts: `--prompts` windows of `--prompt-tokens` tokens ending at a line's start, from the `*.py`
files of `--source` (default: the top-level modules of this Python's standard library, which the
recipe below does not train on), drawn with a fixed seed. A checkpoint (tiny, 4 heads, 300 steps):

    R=$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
    mtp tokenize --out data/pkgs --vocab-size 4096 --seq-len 512 $R/{json,email,urllib,asyncio,logging,http,xml,unittest}
    mtp train data/pkgs --out runs/tiny4 --preset tiny --heads 4 --steps 300 --batch-tokens 4096 --micro-batch 8 --lr 0.003
    python bench/greedy_divergence.py runs/tiny4
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mtp_cli.generate import SamplingParams, StopChecker, decode_plain, decode_speculative, load_model, token_bytes
from mtp_cli.generate.forward import argmax_shortfall, sequence_logits
from mtp_cli.generate.speculative import ARGMAX_TOLERANCE
from mtp_cli.tokenize.sources import stdlib_root

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
GREEDY = SamplingParams()


@dataclass
class Divergence:
    row: int
    position: int  # new tokens both outputs share before they differ
    gap: float  # top-two logit gap of the full forward there, in the run's precision
    gap64: float  # the same in float64
    between: float  # the full forward's logit of greedy's token minus speculative's token


@dataclass
class PrecisionResult:
    precision: str
    rows: int
    tokens: int
    divergences: list[Divergence] = field(default_factory=list)
    shortfall_greedy: float = 0.0  # largest (top logit - emitted token's logit) over every token
    shortfall_speculative: float = 0.0
    seconds_greedy: float = 0.0
    seconds_speculative: float = 0.0


def read_prompts(tokenizer, eos_id: int, sources: list[Path], count: int, length: int, seed: int = 0) -> list[list[int]]:
    """`count` windows of up to `length` tokens (EOS first) ending where a line starts."""
    files = sorted(p for source in sources for p in (source.glob("*.py") if source.is_dir() else [source]))
    rng = random.Random(seed)
    prompts: list[list[int]] = []
    while len(prompts) < count:
        lines = files[rng.randrange(len(files))].read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        if len(lines) < 8:
            continue
        end = rng.randrange(4, len(lines))
        ids = tokenizer.encode("".join(lines[max(0, end - 60) : end]), add_special_tokens=False).ids
        if len(ids) >= 16:
            prompts.append([eos_id, *ids[-(length - 1) :]])
    return prompts


def autocast(precision: str, device: torch.device):
    dtype = PRECISIONS[precision]
    return torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()


def worst_shortfall(logits, tokens: list[int]) -> float:
    return float(argmax_shortfall(logits, tokens).max())


def top_two_gap(logits: torch.Tensor) -> float:
    top = logits.double().topk(2).values
    return float(top[0] - top[1])


def measure(model, model64, prompts, table, args, precision: str) -> PrecisionResult:
    device = model.tok_embeddings.weight.device
    result = PrecisionResult(precision, len(prompts), len(prompts) * args.max_new_tokens)
    for first in range(0, len(prompts), args.batch_size):
        batch = prompts[first : first + args.batch_size]
        checker = lambda: StopChecker(table, (), -1, [args.max_new_tokens] * len(batch))  # noqa: E731  EOS ignored
        with autocast(precision, device):
            started = time.perf_counter()
            plain = decode_plain(model, batch, checker(), GREEDY)
            result.seconds_greedy += time.perf_counter() - started
            started = time.perf_counter()
            spec = decode_speculative(model, batch, checker(), GREEDY, args.draft_heads)
            result.seconds_speculative += time.perf_counter() - started
            for offset, (prompt, g, s) in enumerate(zip(batch, plain, spec)):
                logits_g = sequence_logits(model, prompt, g.tokens)
                logits_s = logits_g if s.tokens == g.tokens else sequence_logits(model, prompt, s.tokens)
                result.shortfall_greedy = max(result.shortfall_greedy, worst_shortfall(logits_g, g.tokens))
                result.shortfall_speculative = max(result.shortfall_speculative, worst_shortfall(logits_s, s.tokens))
                if s.tokens != g.tokens:
                    at = next(i for i, (a, b) in enumerate(zip(g.tokens, s.tokens)) if a != b)
                    with torch.autocast(device.type, enabled=False):
                        logits64 = sequence_logits(model64, prompt, g.tokens[: at + 1])[at]
                    between = float(logits_g[at, g.tokens[at]] - logits_g[at, s.tokens[at]])
                    result.divergences.append(Divergence(first + offset, at, top_two_gap(logits_g[at]), top_two_gap(logits64), between))
        done = first + len(batch)
        print(f"{precision}: {done}/{len(prompts)} rows, {len(result.divergences)} differ", flush=True)
    return result


def tolerance(result: PrecisionResult) -> float:
    return ARGMAX_TOLERANCE[PRECISIONS[result.precision]]


def holds(result: PrecisionResult) -> bool:
    """Every emitted token within the tolerance of the top, so every difference starts at a near-tie."""
    return max(result.shortfall_greedy, result.shortfall_speculative) <= tolerance(result) and all(
        abs(d.between) <= tolerance(result) for d in result.divergences
    )


def show(results: list[PrecisionResult], console: Console) -> None:
    table = Table(title="Plain greedy against speculative greedy, same prompts")
    for name in ("precision", "rows", "new tokens", "rows that differ", "first difference at (new tokens)",
                 "top-two gap there", "same in fp64", "largest shortfall greedy / spec", "tolerance", "contract",
                 "greedy / spec s"):
        table.add_column(name, justify="right")
    for r in results:
        d = r.divergences
        where = f"{min(x.position for x in d)}-{max(x.position for x in d)}, median {statistics.median(x.position for x in d):.0f}" if d else "-"
        gaps = f"max {max(x.gap for x in d):.2e}" if d else "-"
        gaps64 = f"max {max(x.gap64 for x in d):.2e}" if d else "-"
        table.add_row(
            r.precision, str(r.rows), f"{r.tokens:,}", f"{len(d)} ({len(d) / r.rows:.1%})", where, gaps, gaps64,
            f"{r.shortfall_greedy:.2e} / {r.shortfall_speculative:.2e}", f"{tolerance(r):.2g}",
            "held" if holds(r) else "BROKEN",
            f"{r.seconds_greedy:.0f} / {r.seconds_speculative:.0f}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--draft-heads", type=int, default=None, help="default: every extra head")
    parser.add_argument("--source", type=Path, action="append", help="folder of .py files (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(args.checkpoint, torch.device(args.device))
    model = loaded.model
    model64 = copy.deepcopy(model).double()
    args.draft_heads = args.draft_heads or model.n_future_tokens - 1
    prompts = read_prompts(loaded.tokenizer, loaded.eos_id, args.source or [stdlib_root()], args.prompts, args.prompt_tokens)
    table = token_bytes(loaded.tokenizer)
    results = [measure(model, model64, prompts, table, args, p) for p in args.precisions.split(",")]
    show(results, Console(width=200))
    if args.json:
        args.json.write_text(json.dumps({"arguments": {k: str(v) for k, v in vars(args).items()},
                                         "results": [asdict(r) for r in results]}, indent=1))


if __name__ == "__main__":
    main()
