"""Training cost of n=4 against n=1, for both head orders: peak memory, step time, tokens/s, FLOPs.

    python bench/train.py                       # CPU: small preset, 32k vocabulary
    python bench/train.py --bf16                # CPU under bf16 autocast, as training on CUDA runs
    python bench/train.py --device cuda --rows 8 --seq-len 2048
    python bench/train.py --checkpoint          # checkpoint cost: full vs sharded vs async (train_checkpoint.py)
    python bench/train.py --data-path           # batches prepared ahead vs at step start (train_data_path.py)

Every configuration runs in a fresh process, so peak memory is that configuration's alone: on CPU
the process's peak resident set (getrusage ru_maxrss), on CUDA torch.cuda.max_memory_allocated. The
"step" column is the peak minus the memory held after the model was built (activations, gradients,
optimizer state). Ratios are to n=1 with the memory-efficient order. The models are parameter
matched (n=4 has a shorter trunk), so the FLOP ratio is the three extra unembeddings.

Step times are noisy on a shared machine: the configurations run --repeats times, interleaved (one
process each per round), and the fastest step over all rounds is reported, beside the ratio of the
medians. On the CPU one torch thread is the default (--threads): with more threads than idle cores,
step times vary several-fold (mtp_cli/model/threads.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = [(1, "efficient"), (1, "naive"), (4, "efficient"), (4, "naive")]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def write_results(path: str | None, args: argparse.Namespace, results) -> None:
    """--json: the arguments and results, for BENCHMARKS.md."""
    if path:
        with open(path, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


def worker(args: argparse.Namespace) -> dict:
    import torch

    from mtp_cli.model import MtpTransformer, build_config, train_flops_per_token
    from mtp_cli.train.objective import HeadSums, backward_efficient, backward_naive
    from mtp_cli.model.threads import set_threads

    device = torch.device(args.device)
    if device.type == "cpu":
        set_threads(args.threads)
    torch.manual_seed(0)
    config = build_config(args.preset, {"vocab_size": args.vocab, "n_future_tokens": args.heads, "max_seq_len": max(args.seq_len, 2048)})
    model = MtpTransformer(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    inputs = torch.randint(0, args.vocab, (args.rows, args.seq_len), device=device)
    targets = torch.randint(0, args.vocab, (args.heads, args.rows, args.seq_len), device=device)
    backward = backward_efficient if args.order == "efficient" else backward_naive
    scale = 1.0 / inputs.numel()
    cuda = device.type == "cuda"
    bf16 = cuda or args.bf16
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

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
        "tokens": inputs.numel(),
        "tokens_per_second": inputs.numel() / seconds,
        "flops_per_token": train_flops_per_token(config, args.seq_len),
        "parameters": model.num_params(),
        "threads": torch.get_num_threads(),
    }


def run_config(args: argparse.Namespace, heads: int, order: str) -> dict:
    command = [sys.executable, __file__, "--worker", "--heads", str(heads), "--order", order]
    for name in ("device", "preset", "vocab", "seq_len", "rows", "steps", "warmup", "threads"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    command += ["--bf16"] if args.bf16 else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_rounds(args: argparse.Namespace) -> list[dict]:
    """Every configuration once per round, the order reversed every other round; runs merged."""
    runs: dict[tuple[int, str], list[dict]] = {config: [] for config in CONFIGS}
    for round_index in range(args.repeats):
        for heads, order in CONFIGS if round_index % 2 == 0 else CONFIGS[::-1]:
            runs[heads, order].append(run_config(args, heads, order))
    return [merge_runs(runs[config]) for config in CONFIGS]


def merge_runs(runs: list[dict]) -> dict:
    times = [t for r in runs for t in r["step_seconds_all"]]
    merged = dict(runs[0], step_seconds_all=times, step_seconds=min(times))
    merged["step_seconds_median"] = statistics.median(times)
    merged["tokens_per_second"] = merged["tokens"] / merged["step_seconds"]
    for key in ("peak_bytes", "step_bytes"):  # the largest seen, so the memory ratios are not flattered
        merged[key] = max(r[key] for r in runs)
    return merged


def report(args: argparse.Namespace, results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    ref = results[0]
    table = Table(
        title=f"mtp train step: preset {args.preset}, vocab {args.vocab}, {args.rows}x{args.seq_len} tokens, "
        f"{args.device} {'bf16 autocast' if args.bf16 or args.device.startswith('cuda') else 'fp32'}, fastest of {args.repeats} x {args.steps} steps"
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
        f"{'ok' if time_ratio <= 1.05 * flop_ratio else 'MISSED'} (medians: "
        f"{four['step_seconds_median'] / ref['step_seconds_median']:.2f}). {ref['parameters'] / 1e6:.1f}M parameters, "
        f"{ref['threads']} torch threads."
    )
    Console(width=150).print(table)


# ---- GPU mode (--gpu): the training configuration at scale, one fresh process per configuration ----
#
#     python bench/train.py --gpu --compile                 # base preset, 16 x 2048 tokens per step
#     python bench/train.py --gpu --device cpu --preset tiny --seq-len 128 --rows 2 --steps 1   # smoke run
#
# n=1, n=4, and n=4 through FSDP2 on one GPU (a process group of one): tokens/s, MFU against the
# device's dense bf16 peak, peak memory (torch.cuda.max_memory_allocated), step-time ratio to n=1.
# The step is the trainer's: bf16 autocast, fused AdamW, the memory-efficient head order, clipping.

GPU_CONFIGS = [(1, False), (4, False), (4, True)]  # (heads, fsdp)
GPU_DEFAULTS = dict(device="cuda", preset="base", seq_len=2048, rows=16, steps=10, warmup=3)


def gpu_worker(args: argparse.Namespace) -> dict:
    import torch

    from mtp_cli.model import MtpTransformer, build_config, train_flops_per_token
    from mtp_cli.train.config import TrainConfig
    from mtp_cli.train.data import micro_batches
    from mtp_cli.train.distributed import World, join_process_group, leave_process_group
    from mtp_cli.train.mfu import device_peak_tflops, mfu
    from mtp_cli.train.objective import HeadSums, backward_efficient
    from mtp_cli.train.optimizer import build_optimizer
    from mtp_cli.train.parallelize import prepare_model

    world = World.from_env()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        device = torch.device("cuda", world.local_rank)
    created = join_process_group(world.on(device))  # only the FSDP configuration is launched in a group
    config = TrainConfig(data=".", out=".", heads=args.heads, compile=args.compile, fsdp=args.fsdp,
                         activation_checkpointing=args.activation_checkpointing)
    torch.manual_seed(0)
    model_config = build_config(args.preset, {"vocab_size": args.vocab, "n_future_tokens": args.heads, "max_seq_len": max(args.seq_len, 2048)})
    model = prepare_model(MtpTransformer(model_config).to(device), config, device)
    optimizer = build_optimizer(model, config, device)
    inputs = torch.randint(0, args.vocab, (args.rows, args.seq_len), device=device)
    targets = torch.randint(0, args.vocab, (args.heads, args.rows, args.seq_len), device=device)
    scales = [1.0 / inputs.numel()] * args.heads
    trainable = [p for p in model.parameters() if p.requires_grad]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def step() -> float:
        sync()
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        sums = HeadSums.zeros(args.heads)
        for x, y in micro_batches(inputs, targets, args.micro_batch or args.rows):
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
            backward_efficient(model, x, y, scales, sums, autocast)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        sums.mean_loss()  # the trainer reads the losses every step
        sync()
        return time.perf_counter() - started

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    compile_started = time.perf_counter()
    for _ in range(args.warmup):
        step()
    warmup_seconds = time.perf_counter() - compile_started
    times = sorted(step() for _ in range(args.steps))
    seconds = times[len(times) // 2]  # the median: GPU step times are steady
    flops_per_token = train_flops_per_token(model_config, args.seq_len)
    tokens_per_second = inputs.numel() / seconds
    peak = device_peak_tflops(device, args.peak_tflops)
    leave_process_group(created)
    return {
        "heads": args.heads,
        "fsdp": args.fsdp,
        "device_name": torch.cuda.get_device_name(device) if cuda else str(device),
        "peak_bytes": torch.cuda.max_memory_allocated(device) if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "step_seconds": seconds,
        "step_seconds_all": times,
        "warmup_seconds": warmup_seconds,
        "tokens_per_second": tokens_per_second,
        "flops_per_token": flops_per_token,
        "peak_tflops": peak,
        "mfu": mfu(flops_per_token, tokens_per_second, peak),
        "parameters": model.num_params(),
    }


def run_gpu_config(args: argparse.Namespace, heads: int, fsdp: bool) -> dict:
    command = [sys.executable, __file__, "--gpu-worker", "--heads", str(heads)]
    for name in ("device", "preset", "vocab", "seq_len", "rows", "micro_batch", "steps", "warmup", "peak_tflops"):
        if getattr(args, name) is not None:
            command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    command += [flag for flag, on in (("--compile", args.compile), ("--activation-checkpointing", args.activation_checkpointing), ("--fsdp", fsdp)) if on]
    env = dict(os.environ)
    if fsdp:  # what torchrun --nproc-per-node 1 would set: a process group of one
        env.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-6000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpu_report(args: argparse.Namespace, results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    ref = results[0]
    options = " ".join(flag for flag, on in (("compile", args.compile), ("activation checkpointing", args.activation_checkpointing)) if on)
    table = Table(
        title=f"mtp train step on {ref['device_name']}: preset {args.preset}, vocab {args.vocab}, {args.rows}x{args.seq_len} "
        f"tokens, {'bf16' if args.device == 'cuda' else 'fp32'} {options}, median of {args.steps} steps"
    )
    for column in ("n", "sharding", "tokens/s", "MFU", "peak GB", "step s", "x n=1", "FLOP ratio", "warmup s"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r["heads"]),
            "FSDP2, 1 process" if r["fsdp"] else "none",
            f"{r['tokens_per_second']:,.0f}",
            "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%",
            f"{r['peak_bytes'] / 1e9:.2f}",
            f"{r['step_seconds']:.4f}",
            f"{r['step_seconds'] / ref['step_seconds']:.2f}",
            f"{r['flops_per_token'] / ref['flops_per_token']:.2f}",
            f"{r['warmup_seconds']:.0f}",
        )
    four = results[1]
    time_ratio, flop_ratio = four["step_seconds"] / ref["step_seconds"], four["flops_per_token"] / ref["flops_per_token"]
    mfu_text = "unknown (pass --peak-tflops)" if ref["mfu"] is None else f"{100 * ref['mfu']:.1f}% {'ok' if ref['mfu'] >= 0.40 else 'MISSED'}"
    table.caption = (
        f"targets: n=1 MFU >= 40%: {mfu_text}; step-time ratio n=4/n=1 {time_ratio:.2f} vs FLOP ratio {flop_ratio:.2f}. "
        f"{ref['parameters'] / 1e6:.1f}M parameters; peak {ref['peak_tflops']} TFLOP/s per device."
    )
    Console(width=150).print(table)


def gpu_main(args: argparse.Namespace) -> None:
    results = [run_gpu_config(args, heads, fsdp) for heads, fsdp in GPU_CONFIGS]
    gpu_report(args, results)
    write_results(args.json, args, results)


def main() -> None:
    if "--checkpoint" in sys.argv:  # checkpoint cost under torchrun: its own module (bench/train_checkpoint.py)
        import train_checkpoint

        train_checkpoint.main()
        return
    if "--data-path" in sys.argv:  # does the host sit between steps: bench/train_data_path.py
        import train_data_path

        train_data_path.main()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--vocab", type=int, default=32768, help="the shipped tokenizer's size")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (the fastest is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of fresh processes, configurations interleaved")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU (0: torch's default, one per core)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU too (always on CUDA)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--heads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--order", default="efficient", help=argparse.SUPPRESS)
    parser.add_argument("--gpu", action="store_true", help="GPU mode: n=1, n=4, n=4 under FSDP2; MFU (defaults: base, 16x2048 tokens)")
    parser.add_argument("--compile", action="store_true", help="GPU mode: torch.compile each block")
    parser.add_argument("--activation-checkpointing", action="store_true", help="GPU mode: recompute trunk activations")
    parser.add_argument("--micro-batch", type=int, help="GPU mode: rows per forward/backward (default: all of them)")
    parser.add_argument("--peak-tflops", type=float, help="GPU mode: one device's peak TFLOP/s, where the table lacks it")
    parser.add_argument("--gpu-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fsdp", action="store_true", help=argparse.SUPPRESS)
    if "--gpu" in sys.argv or "--gpu-worker" in sys.argv:
        parser.set_defaults(**GPU_DEFAULTS)
    args = parser.parse_args()
    if args.gpu_worker:
        print(json.dumps(gpu_worker(args)))
        return
    if args.gpu:
        gpu_main(args)
        return
    if args.worker:
        print(json.dumps(worker(args)))
        return
    results = run_rounds(args)
    report(args, results)
    write_results(args.json, args, results)


if __name__ == "__main__":
    main()
