"""Checkpoint cost under torchrun: full state gathered on rank 0 against sharded (DCP), and async.

    python bench/train.py --checkpoint                      # small and base, 2 CPU processes (gloo)
    python bench/train.py --checkpoint --presets tiny --steps 2 --rows 1 --seq-len 64   # smoke run
    python bench/train.py --checkpoint --device cuda --processes 1 --presets base --rows 8 --seq-len 1024

Every mode runs in a fresh `torchrun --nproc-per-node N` job training an FSDP2-sharded model with the
trainer's memory-efficient backward, AdamW and checkpointer (mtp_cli.train.checkpoint_writer),
modes interleaved:

    full     what mtp did before sharded checkpoints: the whole weights and optimizer state gathered
             on rank 0 (torch.distributed.checkpoint's full state dicts), written there alone
    sharded  every rank writes its own shards through DCP
    async    sharded, written by a background thread while training goes on

Per mode, two measurements: (1) a save, then waiting for it to complete: the save time, and rank 0's
peak host memory during it over what it held just before (resident set sampled every 2 ms); (2) a
save followed by `--steps` steps: how long the training loop stood still for the save ("loop
blocked": the whole save when synchronous, the copy to CPU memory when async), and the extra time of
those steps over the median step without a save (the background writing competes for the cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from train import rss_bytes, write_results  # bench/train.py, beside this file

MODES = ("full", "sharded", "async")
REPO = Path(__file__).resolve().parents[1]


class PeakMemory:
    """The largest resident set seen while the block runs, sampled on a thread."""

    def __init__(self, every: float = 0.002):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    def __enter__(self) -> "PeakMemory":
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def worker(args: argparse.Namespace) -> dict | None:
    import torch

    from mtp_cli.model import MtpTransformer, build_config
    from mtp_cli.model.threads import set_threads
    from mtp_cli.train.checkpoint_writer import Checkpointer
    from mtp_cli.train.checkpointing import TrainerState
    from mtp_cli.train.config import TrainConfig
    from mtp_cli.train.distributed import World, all_gather_object, barrier, join_process_group, leave_process_group
    from mtp_cli.train.objective import HeadSums, backward_efficient
    from mtp_cli.train.optimizer import build_optimizer
    from mtp_cli.train.parallelize import prepare_model

    set_threads(args.threads)
    world = World.from_env()
    device = torch.device("cuda", world.local_rank) if args.device == "cuda" else torch.device("cpu")
    world = world.on(device)
    created = join_process_group(world)
    config = TrainConfig(data=".", out=".", heads=4, fsdp=True)
    torch.manual_seed(0)
    model_config = build_config(args.preset, {"vocab_size": args.vocab, "n_future_tokens": 4, "max_seq_len": max(args.seq_len, 2048)})
    model = prepare_model(MtpTransformer(model_config).to(device), config, device)
    optimizer = build_optimizer(model, config, device)
    inputs = torch.randint(0, args.vocab, (args.rows, args.seq_len), device=device)
    targets = torch.randint(0, args.vocab, (4, args.rows, args.seq_len), device=device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext
    state = TrainerState()

    def step() -> float:
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        backward_efficient(model, inputs, targets, [1.0 / inputs.numel()] * 4, HeadSums.zeros(4), autocast())
        optimizer.step()
        state.step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        barrier(world)
        return time.perf_counter() - started

    run = Path(args.out)
    checkpointer = Checkpointer(run, {"tokenizer_json": "{}", "tokenizer": {}}, keep=1, arguments={}, world=world,
                                asynchronous=args.mode == "async", sharded=args.mode != "full")
    step()  # the optimizer state exists from here on
    plain = [step() for _ in range(args.steps)]

    barrier(world)  # 1. the save alone: its time and rank 0's memory
    before = rss_bytes()
    with PeakMemory() as memory:
        started = time.perf_counter()
        checkpointer.save(model, optimizer, state)
        checkpointer.wait()
        save_seconds = time.perf_counter() - started
    barrier(world)  # 2. a save followed by steps: what it costs the training loop
    started = time.perf_counter()
    checkpointer.save(model, optimizer, state)
    blocked = time.perf_counter() - started
    with_save = [step() for _ in range(args.steps)]
    waited = time.perf_counter()
    checkpointer.close()
    final_wait = time.perf_counter() - waited
    saved = sum(p.stat().st_size for p in checkpointer.latest.rglob("*") if p.is_file()) if world.is_main else 0
    report = {
        "rank": world.rank,
        "preset": args.preset,
        "mode": args.mode,
        "world_size": world.size,
        "parameters": model.num_params(),
        "checkpoint_bytes": saved,
        "save_seconds": save_seconds,
        "blocked_seconds": blocked,
        "final_wait_seconds": final_wait,
        "step_seconds": statistics.median(plain),
        "steps_with_save_seconds": with_save,
        "step_cost_seconds": blocked + final_wait + sum(with_save) - len(with_save) * statistics.median(plain),
        "rss_before_bytes": before,
        "save_peak_bytes": memory.peak,
        "save_extra_bytes": memory.peak - before,
    }
    reports = all_gather_object(report, world)
    leave_process_group(created)
    return reports if world.is_main else None


def run_mode(args: argparse.Namespace, preset: str, mode: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"mtp-bench-{preset}-{mode}-", dir=args.dir))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.processes),
               __file__, "--worker", "--mode", mode, "--preset", preset, "--out", str(out / "run")]
    for name in ("device", "vocab", "seq_len", "rows", "steps", "threads"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(args.threads, 1)), "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-6000:]}")
    ranks = json.loads([line for line in done.stdout.splitlines() if line.startswith("[")][-1])
    return {**ranks[0], "ranks": ranks}


def merge(runs: list[dict]) -> dict:
    """Repeated runs of one mode: the fastest save and step cost, the largest memory."""
    merged = dict(runs[0])
    for key in ("save_seconds", "step_cost_seconds", "step_seconds", "blocked_seconds"):
        merged[key] = min(r[key] for r in runs)
    merged["save_extra_bytes"] = max(r["save_extra_bytes"] for r in runs)
    merged["save_peak_bytes"] = max(r["save_peak_bytes"] for r in runs)
    merged["runs"] = runs
    return merged


def report(args: argparse.Namespace, results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    where = f"{args.processes} CPU processes (gloo)" if args.device == "cpu" else f"{args.processes} GPU(s) (NCCL)"
    table = Table(title=f"checkpoint cost, FSDP2 over {where}, {args.rows}x{args.seq_len} tokens per "
                        f"step, vocab {args.vocab}, best of {args.repeats}")
    for column in ("preset", "mode", "checkpoint MB", "save s", "x full", "rank-0 save peak MB", "x full",
                   "step s", "step cost s", "in steps", "loop blocked s"):
        table.add_column(column, justify="right")
    verdicts = []
    for preset in args.presets:
        rows = {r["mode"]: r for r in results if r["preset"] == preset}
        full = rows["full"]
        for mode in MODES:
            r = rows[mode]
            table.add_row(preset, mode, f"{r['checkpoint_bytes'] / 1e6:,.0f}", f"{r['save_seconds']:.2f}",
                          f"{r['save_seconds'] / full['save_seconds']:.2f}", f"{r['save_extra_bytes'] / 1e6:,.0f}",
                          f"{r['save_extra_bytes'] / max(full['save_extra_bytes'], 1):.2f}", f"{r['step_seconds']:.2f}",
                          f"{r['step_cost_seconds']:.2f}", f"{r['step_cost_seconds'] / r['step_seconds']:.2f}",
                          f"{r['blocked_seconds']:.2f}")
        limit = full["save_extra_bytes"] / args.processes + args.constant_mb * 1e6
        ok = rows["sharded"]["save_extra_bytes"] <= limit
        verdicts.append(f"{preset}: sharded rank-0 peak {rows['sharded']['save_extra_bytes'] / 1e6:,.0f} MB <= full/"
                        f"{args.processes} + {args.constant_mb} MB = {limit / 1e6:,.0f} MB {'ok' if ok else 'MISSED'}")
    table.caption = ("rank-0 save peak: resident memory during the save over what rank 0 held just before. "
                     "target: " + "; ".join(verdicts))
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="store_true", help="(how bench/train.py selects this mode)")
    parser.add_argument("--presets", nargs="+", default=["small", "base"])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda: one GPU per process (NCCL)")
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rows", type=int, default=2, help="rows per process and step")
    parser.add_argument("--steps", type=int, default=3, help="steps timed without a save, then after one")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--constant-mb", type=int, default=64, help="the constant of the target: full / W + this")
    parser.add_argument("--dir", default=None, help="where checkpoints are written (default: the temp folder)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        reports = worker(args)
        if reports is not None:
            print(json.dumps(reports))
        return
    results = []
    for preset in args.presets:
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for round_index in range(args.repeats):
            for mode in MODES if round_index % 2 == 0 else MODES[::-1]:
                runs[mode].append(run_mode(args, preset, mode))
        results += [merge(runs[mode]) for mode in MODES]
    report(args, results)
    write_results(args.json, args, results)


if __name__ == "__main__":
    main()
