"""Training cost of n=4 against n=1, for both head orders: peak memory, step time, tokens/s, FLOPs.

    python bench/train.py                       # CPU: small preset, 32k vocabulary
    python bench/train.py --device cuda --rows 8 --seq-len 2048

Every configuration runs in a fresh process, so peak memory is that configuration's alone: on CPU
the process's peak resident set (getrusage ru_maxrss), on CUDA torch.cuda.max_memory_allocated. The
"step" column is the peak minus the memory held after the model was built (activations, gradients,
optimizer state). Ratios are to n=1 with the memory-efficient order. The models are parameter
matched (n=4 has a shorter trunk), so the FLOP ratio is the three extra unembeddings.
"""

from __future__ import annotations

import sys

# bench/tokenize.py would shadow the standard library's `tokenize` (imported by `inspect`) while this
# folder is first on sys.path: take it off.
sys.path = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

CONFIGS = [(1, "efficient"), (1, "naive"), (4, "efficient"), (4, "naive")]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def worker(args: argparse.Namespace) -> dict:
    import torch

    from mtp_cli.model import MtpTransformer, build_config, train_flops_per_token
    from mtp_cli.train.objective import HeadSums, backward_efficient, backward_naive

    device = torch.device(args.device)
    torch.manual_seed(0)
    config = build_config(args.preset, {"vocab_size": args.vocab, "n_future_tokens": args.heads, "max_seq_len": max(args.seq_len, 2048)})
    model = MtpTransformer(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    inputs = torch.randint(0, args.vocab, (args.rows, args.seq_len), device=device)
    targets = torch.randint(0, args.vocab, (args.heads, args.rows, args.seq_len), device=device)
    backward = backward_efficient if args.order == "efficient" else backward_naive
    scale = 1.0 / inputs.numel()
    cuda = device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext

    def step() -> float:
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        backward(model, inputs, targets, [scale] * args.heads, HeadSums.zeros(args.heads), autocast())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    if cuda:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = rss_bytes()
    for _ in range(args.warmup):
        step()
    times = [step() for _ in range(args.steps)]
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = min(times)  # other work on the machine only ever adds time
    return {
        "heads": args.heads,
        "order": args.order,
        "peak_bytes": peak,
        "step_bytes": peak - base,
        "step_seconds": seconds,
        "step_seconds_all": times,
        "tokens_per_second": inputs.numel() / seconds,
        "flops_per_token": train_flops_per_token(config, args.seq_len),
        "parameters": model.num_params(),
        "threads": torch.get_num_threads(),
    }


def run_config(args: argparse.Namespace, heads: int, order: str) -> dict:
    command = [sys.executable, __file__, "--worker", "--heads", str(heads), "--order", order]
    for name in ("device", "preset", "vocab", "seq_len", "rows", "steps", "warmup"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(args: argparse.Namespace, results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    ref = results[0]
    table = Table(
        title=f"mtp train step: preset {args.preset}, vocab {args.vocab}, {args.rows}x{args.seq_len} tokens, "
        f"{args.device}, fastest of {args.steps} steps"
    )
    for column in ("n", "order", "peak MB", "x n=1", "step MB", "x n=1", "step s", "x n=1", "tokens/s", "FLOP ratio"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r["heads"]),
            r["order"],
            f"{r['peak_bytes'] / 1e6:,.0f}",
            f"{r['peak_bytes'] / ref['peak_bytes']:.2f}",
            f"{r['step_bytes'] / 1e6:,.0f}",
            f"{r['step_bytes'] / ref['step_bytes']:.2f}",
            f"{r['step_seconds']:.3f}",
            f"{r['step_seconds'] / ref['step_seconds']:.2f}",
            f"{r['tokens_per_second']:,.0f}",
            f"{r['flops_per_token'] / ref['flops_per_token']:.2f}",
        )
    four = next(r for r in results if r["heads"] == 4 and r["order"] == "efficient")
    naive = next(r for r in results if r["heads"] == 4 and r["order"] == "naive")
    memory_ratio = four["peak_bytes"] / ref["peak_bytes"]
    time_ratio, flop_ratio = four["step_seconds"] / ref["step_seconds"], four["flops_per_token"] / ref["flops_per_token"]
    table.caption = (
        f"targets: n=4 efficient peak <= 1.10x n=1: {memory_ratio:.2f}x {'ok' if memory_ratio <= 1.10 else 'MISSED'}; "
        f"naive visibly larger: {naive['peak_bytes'] / ref['peak_bytes']:.2f}x; "
        f"step-time ratio <= FLOP ratio + 5%: {time_ratio:.2f} vs {flop_ratio:.2f} "
        f"{'ok' if time_ratio <= 1.05 * flop_ratio else 'MISSED'}. {ref['parameters'] / 1e6:.1f}M parameters, "
        f"{ref['threads']} torch threads."
    )
    Console(width=150).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--vocab", type=int, default=32768, help="the shipped tokenizer's size")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (the fastest is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--heads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--order", default="efficient", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    results = [run_config(args, heads, order) for heads, order in CONFIGS]
    report(args, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
