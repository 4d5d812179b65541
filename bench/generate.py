"""Self-speculative decoding against plain greedy decoding, in one run, same checkpoint and prompts.

For each batch size: tokens/s of `--mode greedy` and of `--mode speculative`, their ratio, the mean
tokens decided per forward pass, and the efficiency (speed-up / tokens per forward: the share of the
accepted length that turns into wall-clock speed). Asserts the two outputs are token-for-token equal.
Target: efficiency >= 0.9 at batch 1 and 16. Prompts: the first N HumanEval problems.

    python bench/generate.py CKPT [--prompts 16] [--max-new-tokens 128] [--batch-sizes 1,16]
                             [--draft-heads K] [--threads 1] [--device cpu]

A checkpoint to run it on (the project's trainer, on this Python's standard library):

    mtp tokenize --out data/stdlib --seq-len 512
    mtp train data/stdlib --out runs/tiny4 --preset tiny --heads 4 --steps 2000
    python bench/generate.py runs/tiny4

Speculative forwards run every drafting head's block on the block's K+1 tokens (their KV caches
must stay complete) while greedy runs head 1 only, so where a forward's cost is set by the number of
blocks (small models, CPU, launch-bound GPUs) the speed-up is capped near
tokens-per-forward * (trunk + 1) / (trunk + K + 1).
"""

from __future__ import annotations

import sys

# bench/tokenize.py would shadow the standard library's `tokenize` (imported by `inspect`) when a
# script of this folder runs, because its folder comes first on sys.path: take that folder off.
sys.path = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from mtp_cli.generate import (  # noqa: E402
    SamplingParams,
    StopChecker,
    decode_plain,
    decode_speculative,
    encode_prompts,
    load_model,
    token_bytes,
)
from mtp_cli.generate.prompts import from_dataset  # noqa: E402


def timed(fn, batches):
    started = time.perf_counter()
    results = [r for batch in batches for r in fn(batch)]
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--draft-heads", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    loaded = load_model(args.checkpoint, torch.device(args.device))
    model = loaded.model
    k = args.draft_heads or model.n_future_tokens - 1
    ids = encode_prompts(loaded, from_dataset("humaneval").prompts[: args.prompts], model.config.max_seq_len)
    limit = [min(args.max_new_tokens, model.config.max_seq_len - len(p) - 1) for p in ids]
    table_bytes = token_bytes(loaded.tokenizer)
    greedy = SamplingParams()

    def checker(batch):  # no stop sequences: every row decodes its whole budget, as in the method's table
        return StopChecker(table_bytes, (), -1, [limit[i] for i in batch])

    def plain(batch):
        return decode_plain(model, [ids[i] for i in batch], checker(batch), greedy)

    def spec(batch):
        return decode_speculative(model, [ids[i] for i in batch], checker(batch), greedy, k)

    console = Console()
    table = Table(title=f"{args.checkpoint}: {len(ids)} HumanEval prompts, {args.max_new_tokens} new tokens, "
                        f"{k} drafting heads, {args.device}, {args.threads} thread(s)")
    for column in ("batch", "greedy tok/s", "speculative tok/s", "speed-up", "tokens/forward", "efficiency", "acceptance per head"):
        table.add_column(column, justify="right")
    plain([0]), spec([0])  # warm-up
    for size in (int(s) for s in args.batch_sizes.split(",")):
        batches = [list(range(i, min(i + size, len(ids)))) for i in range(0, len(ids), size)]
        base, t_base = timed(plain, batches)
        fast, t_fast = timed(spec, batches)
        assert [r.tokens for r in base] == [r.tokens for r in fast], "speculative output differs from greedy"
        tokens = sum(len(r.tokens) for r in fast)
        per_forward = tokens / sum(r.forwards for r in fast)
        speedup = t_base / t_fast
        steps = sum(r.drafted for r in fast)
        rates = " ".join(f"{sum(r.accepted[j] for r in fast) / steps:.2f}" for j in range(k))
        table.add_row(str(size), f"{tokens / t_base:,.1f}", f"{tokens / t_fast:,.1f}", f"{speedup:.2f}x",
                      f"{per_forward:.2f}", f"{speedup / per_forward:.0%}", rates)
    console.print(table)
    console.print("outputs identical: yes")


if __name__ == "__main__":
    main()
