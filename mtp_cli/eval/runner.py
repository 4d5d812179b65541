"""Run many programs on a pool of sandbox launchers, one thread per launcher."""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Hashable, Sequence

from mtp_cli.artifacts import NullProgress, ProgressSink, default_workers
from mtp_cli.eval.sandbox import Launcher, RunResult, SandboxConfig

Job = tuple[Hashable, tuple[str, str]]  # (key, (solution, tests))
_DONE = object()


def _work(jobs: "queue.Queue[Job]", results: queue.Queue, config: SandboxConfig, stop: threading.Event, facts: list) -> None:
    # The launcher asks to die with the thread that started it (PR_SET_PDEATHSIG): it is started and
    # closed in this thread.
    launcher = Launcher(config)
    try:
        launcher.start()
        facts.append(launcher.isolation)
        while not stop.is_set():
            try:
                key, (solution, tests) = jobs.get_nowait()
            except queue.Empty:
                break
            results.put((key, launcher.run(solution, tests)))
    except BaseException as e:  # a harness fault: hand it to the main thread
        results.put((_DONE, e))
    finally:
        launcher.close()


def run_programs(
    jobs: Sequence[Job],
    config: SandboxConfig,
    on_result: Callable[[Hashable, RunResult], None],
    workers: int = 0,
    progress: ProgressSink = NullProgress(),
) -> dict[str, object]:
    """Run every program; `on_result(key, result)` is called in this thread as each one ends.

    Returns run statistics (workers, elapsed seconds, programs per second, isolation facts).
    """
    workers = max(1, min(workers or default_workers(), len(jobs) or 1))
    pending: "queue.Queue[Job]" = queue.Queue()
    for job in jobs:
        pending.put(job)
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    facts: list[dict] = []
    threads = [threading.Thread(target=_work, args=(pending, results, config, stop, facts), daemon=True) for _ in range(workers)]
    started = time.perf_counter()
    progress.phase("running programs", len(jobs), "programs")
    for thread in threads:
        thread.start()
    try:
        for _ in range(len(jobs)):
            key, result = results.get()
            if key is _DONE:
                raise result
            on_result(key, result)
            progress.advance(1, programs=1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    return {
        "workers": workers,
        "programs": len(jobs),
        "seconds": round(elapsed, 3),
        "programs_per_second": round(len(jobs) / elapsed, 1) if elapsed > 0 else None,
        "isolation": facts[0] if facts else {},
    }
