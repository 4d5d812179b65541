"""Does the host sit between training steps? Batches prepared ahead against loaded when the step starts.

    python bench/train.py --data-path                                  # CPU: tiny preset, 256-token rows
    python bench/train.py --data-path --device cuda --preset base --seq-len 1024 --batch-tokens 65536 --micro-batch 32

The real `mtp train` loop runs twice per round, side by side: "ahead" as shipped (the next step's batch
gathered on a background thread, in pinned memory with non-blocking copies on CUDA) and "at step
start" (the prefetcher's `prepare` switched off, nothing pinned: the batch is loaded when its step
begins, as before). From metrics.jsonl: the host's wait for the batch at the start of each step
(`data_seconds`) as a share of the step. On CUDA the torch profiler also records --profile-steps
steps, and the GPU's idle time between its kernels, per step, is reported as a share of the step:
an upper bound on the time between steps with the GPU idle (it includes any idle gaps inside a step).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

MODES = ("ahead", "at step start")


def tokenized(args: argparse.Namespace, work: Path) -> Path:
    from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus
    from mtp_cli.tokenize.sources import stdlib_root

    if args.data:
        return Path(args.data)
    out = work / "data"
    sources = [str(stdlib_root() / name) for name in ("json", "email", "urllib", "asyncio", "unittest")]
    tokenize_corpus(TokenizeConfig(out=out, sources=sources, seq_len=args.seq_len, workers=args.workers))
    return out


class StepProfiler:
    """A TrainObserver that steps torch's profiler once per training step (CUDA only)."""

    def __init__(self, steps: int, skip: int):
        import torch
        from torch.profiler import ProfilerActivity, profile, schedule

        self.profile = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA],
                               schedule=schedule(wait=skip, warmup=1, active=steps), on_trace_ready=self._keep)
        self.steps, self.idle_seconds, self.window_seconds = steps, None, None
        self._torch = torch

    def _keep(self, prof) -> None:
        kernels = sorted((e.time_range.start, e.time_range.end) for e in prof.events()
                         if e.device_type == self._torch.autograd.DeviceType.CUDA and e.time_range.end > e.time_range.start)
        if not kernels:
            return
        busy, (start, end) = 0.0, kernels[0]
        for a, b in kernels[1:]:  # merge overlapping kernels into busy intervals
            if a > end:
                busy += end - start
                start, end = a, b
            else:
                end = max(end, b)
        busy += end - start
        window = kernels[-1][1] - kernels[0][0]
        self.window_seconds, self.idle_seconds = window / 1e6, (window - busy) / 1e6  # microseconds

    def on_start(self, plan):
        self.profile.__enter__()

    def on_step(self, record):
        self.profile.step()

    def on_eval(self, record):
        pass

    def on_checkpoint(self, step, folder):
        pass

    def on_notice(self, message):
        pass

    def close(self) -> None:
        self.profile.__exit__(None, None, None)


def run_mode(args: argparse.Namespace, data: Path, out: Path, mode: str) -> dict:
    from mtp_cli.train import TrainConfig, train
    from mtp_cli.train import prefetch
    from mtp_cli.train.metrics import MetricsLog

    original = (prefetch.BatchPrefetcher.prepare, prefetch.BatchPrefetcher.__init__)
    if mode == "at step start":
        def unpinned_init(self, split, n, device):
            original[1](self, split, n, device)
            self.pinned = False

        prefetch.BatchPrefetcher.prepare = lambda self, rows: None
        prefetch.BatchPrefetcher.__init__ = unpinned_init
    profiler = StepProfiler(args.profile_steps, args.skip) if args.device.startswith("cuda") else None
    config = TrainConfig(data=data, out=out, preset=args.preset, heads=4, steps=args.steps, batch_tokens=args.batch_tokens,
                         micro_batch=args.micro_batch, eval_every=10**9, save_every=10**9, device=args.device,
                         threads=args.threads, lr=1e-3, warmup=2)
    try:
        train(config, observer=profiler)
    finally:
        prefetch.BatchPrefetcher.prepare, prefetch.BatchPrefetcher.__init__ = original
        if profiler is not None:
            profiler.close()
    records = [r for r in MetricsLog(out).read() if r["event"] == "train"][args.skip:]
    step = statistics.median(r["step_seconds"] for r in records)
    data_wait = statistics.median(r["data_seconds"] for r in records)
    result = {"mode": mode, "step_seconds": step, "data_seconds": data_wait, "data_share": data_wait / step}
    if profiler is not None and profiler.idle_seconds is not None:
        result["gpu_idle_per_step_seconds"] = profiler.idle_seconds / args.profile_steps
        result["gpu_idle_share"] = result["gpu_idle_per_step_seconds"] / step
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", action="store_true", help="(how bench/train.py selects this mode)")
    parser.add_argument("--data", help="a tokenized folder (default: a few stdlib packages, tokenized here)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--skip", type=int, default=2, help="first steps left out (warm-up)")
    parser.add_argument("--profile-steps", type=int, default=5, help="CUDA: steps recorded by the profiler")
    parser.add_argument("--repeats", type=int, default=2, help="rounds, the modes interleaved")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="tokenize workers (0: all cores)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mtp-bench-data-") as folder:
        work = Path(folder)
        data = tokenized(args, work)
        results: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for index in range(args.repeats):
            for mode in MODES if index % 2 == 0 else MODES[::-1]:
                results[mode].append(run_mode(args, data, work / f"run-{index}-{mode.replace(' ', '-')}", mode))
    best = {mode: min(runs, key=lambda r: r["step_seconds"]) for mode, runs in results.items()}
    report(args, best)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results, "date": time.strftime("%Y-%m-%d")}, f, indent=2)


def report(args: argparse.Namespace, best: dict[str, dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    gpu = "gpu_idle_share" in best["ahead"]
    table = Table(title=f"mtp train data path: {args.preset}, {args.batch_tokens} tokens per step ({args.seq_len}-token rows), "
                        f"{args.device}, median of steps {args.skip + 1}..{args.steps}, fastest of {args.repeats} rounds")
    for column in ("batches", "step s", "host wait for the batch s", "share of the step") + (("GPU idle per step s", "share") if gpu else ()):
        table.add_column(column, justify="right")
    for mode, r in best.items():
        cells = [mode, f"{r['step_seconds']:.4f}", f"{r['data_seconds']:.5f}", f"{100 * r['data_share']:.3g}%"]
        if gpu:
            cells += [f"{r['gpu_idle_per_step_seconds']:.5f}", f"{100 * r['gpu_idle_share']:.3g}%"]
        table.add_row(*cells)
    if gpu:
        share = best["ahead"]["gpu_idle_share"]
        table.caption = f"target: GPU idle between steps < 2% of a step: {100 * share:.2f}% (upper bound) {'ok' if share < 0.02 else 'MISSED'}"
    else:
        table.caption = "on the CPU the batch is gathered by a thread beside the step's compute; the share is the host's wait"
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
