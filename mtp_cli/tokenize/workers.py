"""Reading and encoding work units on all cores, with results returned in corpus order.

Each worker reads, decodes and tokenizes whole units; the main process only packs and writes. A
bounded window of units in flight keeps memory flat on corpora larger than memory, and taking
results in submission order makes the output independent of the worker count.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from mtp_cli.tokenize.sources import Unit, UnitDocs, read_unit
from mtp_cli.tokenize.vocab import DocEncoder, TokenizerSpec


@dataclass(frozen=True)
class ReadSettings:
    on_decode_error: str
    text_field: str
    explicit_field: bool


@dataclass
class EncodedUnit:
    docs: UnitDocs
    ids: list[np.ndarray | None]  # per document; None for skipped ones (and when only reading)
    progress: int  # source bytes the unit covered


class UnitProcessor:
    def __init__(self, settings: ReadSettings, spec: TokenizerSpec | None):
        self.settings = settings
        self.encoder = DocEncoder(spec) if spec is not None else None

    def __call__(self, unit: Unit) -> EncodedUnit:
        s = self.settings
        docs = read_unit(unit, s.on_decode_error, s.text_field, s.explicit_field)
        if self.encoder is None:
            return EncodedUnit(docs, [None] * len(docs.docs), unit.progress)
        encoded = iter(self.encoder.encode([d.text for d in docs.docs if d.text is not None]))
        return EncodedUnit(docs, [next(encoded) if d.text is not None else None for d in docs.docs], unit.progress)


_processor: UnitProcessor | None = None


def _init_worker(settings: ReadSettings, spec: TokenizerSpec | None) -> None:
    global _processor
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops us
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # parallelism comes from the processes
    _processor = UnitProcessor(settings, spec)


def _work(unit: Unit) -> EncodedUnit:
    return _processor(unit)




def process_units(
    units: Iterable[Unit], settings: ReadSettings, spec: TokenizerSpec | None, workers: int
) -> Iterator[EncodedUnit]:
    """Read (and encode, when `spec` is given) every unit, yielding results in the order of `units`."""
    if workers <= 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        processor = UnitProcessor(settings, spec)
        for unit in units:
            yield processor(unit)
        return
    # spawn: the parent may already run tokenizers' thread pool, which does not survive fork
    context = mp.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(settings, spec)) as pool:
        pending: deque = deque()
        for unit in units:
            pending.append(pool.apply_async(_work, (unit,)))
            if len(pending) >= 4 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
