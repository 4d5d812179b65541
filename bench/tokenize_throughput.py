"""`mtp tokenize` throughput against the `tokenizers` library's own `encode_batch`, in one run.

Both sides use the same tokenizer on the same documents. The baseline is the raw library call on
texts already in memory, with its Rust thread pool on all cores, ids pulled out as a user would;
`mtp tokenize` is measured end to end (reading and decoding files, tokenizing, packing, writing and
hashing Arrow shards). Target: mtp at least 0.8x the baseline's MB/s. `encode_batch_fast` (no offsets, which
mtp uses) is shown too, for a like-for-like view. Also shows scaling from 1
worker to all.

    python bench/tokenize_throughput.py [SOURCE_DIR] [--tokenizer PATH|bytes] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus
from mtp_cli.tokenize.sources import iter_units, read_unit, resolve_sources
from mtp_cli.tokenize.vocab import shipped_tokenizer_path
from mtp_cli.artifacts import default_workers


def load_documents(sources: list[str]) -> list[str]:
    texts = []
    for unit in iter_units(resolve_sources(sources, ("*.py",)), "text", False):
        texts += [d.text for d in read_unit(unit, "replace", "text", False).docs if d.text is not None]
    return texts


def baseline_encode_batch(tokenizer_path: str, texts: list[str], method: str, batch: int = 1024) -> float:
    from tokenizers import Tokenizer

    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.encode_special_tokens = True
    started = time.perf_counter()
    tokens = 0
    for i in range(0, len(texts), batch):
        for encoding in getattr(tokenizer, method)(texts[i : i + batch], add_special_tokens=False):
            tokens += len(encoding.ids)
    return time.perf_counter() - started


def run_mtp(sources: list[str], tokenizer: str, workers: int, scratch: Path) -> tuple[float, dict]:
    out = scratch / f"out-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    manifest = tokenize_corpus(TokenizeConfig(out=out, sources=sources, tokenizer=tokenizer, workers=workers))
    return time.perf_counter() - started, manifest


def best_of(repeat: int, fn):
    results = [fn() for _ in range(repeat)]
    return min(results, key=lambda r: r[0] if isinstance(r, tuple) else r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", help="Corpus folders (default: this Python's standard library).")
    parser.add_argument("--tokenizer", default=str(shipped_tokenizer_path()), help="tokenizer.json path, or 'bytes'.")
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each side; the best is kept.")
    args = parser.parse_args()

    texts = load_documents(args.sources)  # also warms the page cache for the mtp runs
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    all_workers = default_workers()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.tokenizer != "bytes":
            for method in ("encode_batch", "encode_batch_fast"):
                seconds = best_of(args.repeat, lambda: baseline_encode_batch(args.tokenizer, texts, method))
                rows.append((f"tokenizers {method} (in memory)", f"{all_workers} threads", seconds, None))
        for workers in sorted({1, all_workers}):
            seconds, manifest = best_of(args.repeat, lambda: run_mtp(args.sources, args.tokenizer, workers, Path(scratch)))
            shards = sum(len(s["shards"]) for s in manifest["splits"].values())
            rows.append(("mtp tokenize (end to end)", f"{workers} workers", seconds, shards))

    baseline = rows[0][2] if args.tokenizer != "bytes" else None
    table = Table(title=f"tokenize throughput: {len(texts):,} documents, {megabytes:.1f} MB, tokenizer {Path(args.tokenizer).name}")
    for column in ("path", "parallelism", "seconds", "MB/s", "shards written", "x encode_batch"):
        table.add_column(column, justify="left" if column in ("path", "parallelism") else "right")
    for name, parallel, seconds, shards in rows:
        ratio = f"{baseline / seconds:.2f}x" if baseline else "-"
        table.add_row(name, parallel, f"{seconds:.2f}", f"{megabytes / seconds:.2f}", "-" if shards is None else str(shards), ratio)
    one, full = rows[-2][2], rows[-1][2]
    table.caption = f"scaling 1 -> {all_workers} workers: {one / full:.2f}x; target: mtp (all workers) >= 0.8x encode_batch"
    Console().print(table)


if __name__ == "__main__":
    main()
