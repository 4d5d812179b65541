"""Torch threads per command: 1 thread against one per core, on idle cores and beside a busy process.

The work is the quickstart's (pipelines/quickstart.yaml): a `tiny` model with 4 heads (3 linear),
a 4096-token vocabulary and 512-token rows; a training step of 8 rows (forward, backward in the
memory-efficient head order, clipping, AdamW), and decoding of one prompt at a time, greedy and
self-speculative, to a fixed length. Weights are random: speeds per forward pass do not depend on
them (speculative decoding accepts fewer drafts than a trained model would, in both columns alike).

Each condition times every workload with each thread count, alternating, `--repeats` times, and
reports the median. "busy" starts one CPU-bound process (a Python busy loop) beside the bench for
that condition, as another job on a shared machine would be. Ratio: speed with 1 thread over speed
with one thread per core (above 1: 1 thread is faster).

    python bench/threads.py [--repeats 5] [--new-tokens 64] [--rows 8 --seq-len 512] [--many N]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import torch
from rich.console import Console
from rich.table import Table

from mtp_cli.generate import SamplingParams, StopChecker, decode_plain, decode_speculative
from mtp_cli.model import MtpTransformer, build_config
from mtp_cli.model.threads import ONE_PER_CORE
from mtp_cli.train.objective import HeadSums, backward_efficient

VOCAB, HEADS, PROMPT_TOKENS = 4096, 4, 128


def quickstart_model(seq_len: int) -> MtpTransformer:
    torch.manual_seed(0)
    overrides = {"vocab_size": VOCAB, "n_future_tokens": HEADS, "max_seq_len": max(seq_len, 2 * PROMPT_TOKENS), "head_type": "linear"}
    return MtpTransformer(build_config("tiny", overrides))


def train_step(model: MtpTransformer, rows: int, seq_len: int) -> Callable[[], float]:
    """One optimizer step; returns the tokens it trained on."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs = torch.randint(0, VOCAB, (rows, seq_len))
    targets = torch.randint(0, VOCAB, (HEADS, rows, seq_len))
    scales = [1.0 / inputs.numel()] * HEADS

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        backward_efficient(model, inputs, targets, scales, HeadSums.zeros(HEADS), contextlib.nullcontext())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return float(inputs.numel())

    return step


def decoding(model: MtpTransformer, speculative: bool, new_tokens: int) -> Callable[[], float]:
    """One prompt decoded to exactly `new_tokens` tokens; returns that count."""
    prompt = torch.randint(0, VOCAB, (PROMPT_TOKENS,)).tolist()
    greedy = SamplingParams(temperature=0.0, top_k=0, top_p=1.0)

    def run() -> float:
        checker = StopChecker([], (), None, [new_tokens])
        with torch.inference_mode():
            if speculative:
                results = decode_speculative(model, [prompt], checker, greedy, HEADS - 1, [0])
            else:
                results = decode_plain(model, [prompt], checker, greedy, [0])
        return float(len(results[0].tokens))

    return run


@contextlib.contextmanager
def busy_process(on: bool) -> Iterator[None]:
    """One CPU-bound process beside the bench, as another job on a shared machine."""
    if not on:
        yield
        return
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        process.kill()
        process.wait()


def measure(work: Callable[[], float], threads: list[int], repeats: int) -> dict[int, float]:
    """Median units/s per thread count, the counts alternating so load changes hit them alike."""
    rates: dict[int, list[float]] = {t: [] for t in threads}
    for t in threads:  # warm-up, untimed
        torch.set_num_threads(t)
        work()
    for _ in range(repeats):
        for t in threads:
            torch.set_num_threads(t)
            started = time.perf_counter()
            units = work()
            rates[t].append(units / (time.perf_counter() - started))
    return {t: statistics.median(r) for t, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens decoded per timed prompt")
    parser.add_argument("--rows", type=int, default=8, help="rows per training step [default: the quickstart's 8]")
    parser.add_argument("--seq-len", type=int, default=512, help="tokens per row [default: the quickstart's 512]")
    parser.add_argument("--many", type=int, default=ONE_PER_CORE, help="the thread count compared with 1 [default: one per core]")
    args = parser.parse_args()

    model = quickstart_model(args.seq_len)
    workloads = {
        f"train step ({args.rows} x {args.seq_len} tokens)": (train_step(model, args.rows, args.seq_len), "tokens/s"),
        "greedy decoding": (decoding(model.eval(), False, args.new_tokens), "tokens/s"),
        "speculative decoding": (decoding(model.eval(), True, args.new_tokens), "tokens/s"),
    }
    threads = [1, args.many]
    table = Table(title=f"torch threads: 1 against {args.many} (median of {args.repeats}, torch {torch.__version__})")
    for column in ("work", "beside it", "1 thread", f"{args.many} threads", "1 thread / many"):
        table.add_column(column, justify="left" if column in ("work", "beside it") else "right")
    for busy in (False, True):
        with busy_process(busy):
            for name, (work, unit) in workloads.items():
                model.train(name.startswith("train"))
                rates = measure(work, threads, args.repeats)
                table.add_row(name, "1 busy process" if busy else "nothing of ours", f"{rates[1]:,.0f} {unit}",
                              f"{rates[args.many]:,.0f} {unit}", f"{rates[1] / rates[args.many]:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
