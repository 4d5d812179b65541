"""`run_pipeline`: tokenize -> train -> generate -> eval -> report, each step skipped when current.

    spec = build_pipeline(load_recipe_file("pipelines/quickstart.yaml"), out=Path("out/quickstart"))
    result = run_pipeline(spec)

OUT/manifest.json (kind "pipeline") names the recipe and says how far the pipeline got; the recipe
with its --set overrides applied is kept as OUT/recipe.yaml. A training run that was interrupted
resumes from its last checkpoint when its settings are unchanged.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import yaml

from mtp_cli.artifacts import (
    MANIFEST_NAME,
    MtpError,
    NullProgress,
    ProgressSink,
    atomic_write_text,
    build_manifest,
    read_manifest,
    sha256_file,
    sidecar_path,
    write_manifest,
)
from mtp_cli.pipeline import markers
from mtp_cli.pipeline.parallel import Job, Outcome, SideBySide, longest_first
from mtp_cli.pipeline.spec import GenerationSpec, PipelineSpec


class PipelineReporter(Protocol):
    def step_started(self, step: str, detail: str) -> None: ...
    def step_skipped(self, step: str, reason: str) -> None: ...
    def step_finished(self, step: str, seconds: float) -> None: ...
    def progress(self) -> AbstractContextManager[ProgressSink]: ...
    def train_observer(self) -> AbstractContextManager[Any]: ...
    def runs_display(self, runs: list[str]) -> AbstractContextManager[Any]: ...  # .observer(run) -> TrainObserver


class QuietReporter:
    """Reports nothing; keeps the events for callers (and tests) to read."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def step_started(self, step: str, detail: str) -> None:
        self.events.append(("started", step, detail))

    def step_skipped(self, step: str, reason: str) -> None:
        self.events.append(("skipped", step, reason))

    def step_finished(self, step: str, seconds: float) -> None:
        self.events.append(("finished", step, f"{seconds:.1f}s"))

    def progress(self) -> AbstractContextManager[ProgressSink]:
        return nullcontext(NullProgress())

    def train_observer(self) -> AbstractContextManager[Any]:
        return nullcontext(None)

    def runs_display(self, runs: list[str]) -> AbstractContextManager[Any]:
        return nullcontext(self)

    def observer(self, run: str) -> Any:
        from mtp_cli.train import NullObserver

        return NullObserver()


class PipelineInterrupted(Exception):
    """A step was stopped by Ctrl-C after saving what it had; rerunning continues from there."""


@dataclass
class StepRecord:
    step: str
    status: str  # ran | resumed | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class PipelineResult:
    out: Path
    steps: list[StepRecord] = field(default_factory=list)
    report: Path | None = None


class PipelineRunner:
    def __init__(self, spec: PipelineSpec, reporter: PipelineReporter | None = None, jobs: int = 1):
        if jobs < 1:
            raise MtpError(f"--jobs must be 1 or more, got {jobs}", "--jobs 2 trains two runs at a time")
        self.spec, self.reporter, self.jobs = spec, reporter or QuietReporter(), jobs
        self.result = PipelineResult(spec.out)
        self._outputs: list[Path] = []  # every step's output manifest: what the report is made from
        self._imported_again = False  # the imported model changed: the data tokenized with it is stale

    # ---- bookkeeping shared by the steps --------------------------------------------------------

    def _mark_done(self, step: str, key: str, manifest: Path) -> None:
        markers.mark_done(self.spec.out, step, key, manifest)
        self._outputs.append(manifest)

    def _skipped(self, step: str, reason: str) -> None:
        self.reporter.step_skipped(step, reason)
        self.result.steps.append(StepRecord(step, "skipped", detail=reason))

    def _skip_if_done(self, step: str, key: str, manifest: Path) -> bool:
        if markers.is_done(self.spec.out, step, key, manifest):
            self._outputs.append(manifest)
            self._skipped(step, "up to date")
            return True
        markers.clear(self.spec.out, step)
        return False

    def _run_step(self, step: str, detail: str, status: str, work: Callable[[], None]) -> None:
        self.reporter.step_started(step, detail)
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        self.reporter.step_finished(step, seconds)
        self.result.steps.append(StepRecord(step, status, seconds, detail))

    def _write_manifest(self, status: str) -> None:
        steps = [asdict(record) for record in self.result.steps]
        write_manifest(self.spec.out, build_manifest("pipeline", self.spec.recipe, [], status=status, steps=steps))

    # ---- the steps ---------------------------------------------------------------------------

    def import_model(self) -> None:
        from mtp_cli.interop import import_model

        settings, folder, step = self.spec.imported, self.spec.imported_folder, "import"
        key = markers.step_key({**asdict(settings), "files": _fingerprint(Path(settings.src))}, [])
        if self._skip_if_done(step, key, folder / MANIFEST_NAME):
            return
        self._imported_again = True

        def work() -> None:
            with self.reporter.progress() as progress:
                import_model(settings.src, folder, overwrite=True, tokenizer_model=settings.tokenizer, progress=progress)

        self._run_step(step, f"{settings.src}", "ran", work)
        self._mark_done(step, key, folder / MANIFEST_NAME)

    def synthesize(self) -> None:
        from mtp_cli.synth import write_induction, write_polynomials

        synth, folder, step = self.spec.synth, self.spec.synth_folder, "synth"
        key = markers.step_key({"task": synth.task, **_settings(synth.settings, "out", "overwrite")}, [])
        if self._skip_if_done(step, key, folder / MANIFEST_NAME):
            return
        write = write_polynomials if synth.task == "polynomials" else write_induction

        def work() -> None:
            with self.reporter.progress() as progress:
                write(synth.settings, progress)

        self._run_step(step, synth.task, "ran", work)
        self._mark_done(step, key, folder / MANIFEST_NAME)

    def tokenize(self) -> None:
        from mtp_cli.tokenize.corpus import is_current, tokenize_corpus

        config, step = self.spec.tokenize, "tokenize"
        manifest = config.out / MANIFEST_NAME
        key = markers.step_key(_settings(config, "out", "workers", "overwrite"), [])
        with self.reporter.progress() as progress:  # sizes and mtimes first; a re-hash shows its progress
            current = is_current(config, progress)
        if current and not self._imported_again:
            self._mark_done(step, key, manifest)
            self._skipped(step, "up to date")
            return
        config.overwrite = True  # the folder is the pipeline's own: its settings changed

        def work() -> None:
            with self.reporter.progress() as progress:
                tokenize_corpus(config, progress)

        self._run_step(step, f"{config.tokenizer} tokens, rows of {config.seq_len}", "ran", work)
        self._mark_done(step, key, manifest)

    def _training_job(self, name: str) -> Job | None:
        """The run to train, or None when it is up to date (then it is reported as skipped)."""
        from mtp_cli.train.config import RESUMABLE_CHANGES

        config, step = self.spec.runs[name], f"train/{name}"
        inputs = [self.spec.tokenized / MANIFEST_NAME]
        if self.spec.imported is not None:
            inputs.append(self.spec.imported_folder / MANIFEST_NAME)
        key = markers.step_key(_settings(config, *RESUMABLE_CHANGES), inputs)
        if self._skip_if_done(step, key, config.out / MANIFEST_NAME):
            return None
        resume = _can_resume(config, self.spec.tokenized)
        if not resume and config.out.exists():
            shutil.rmtree(config.out)  # an earlier run with other settings or data: the pipeline's own folder
        return Job(name, config, resume, key)

    def _train_detail(self, job: Job) -> str:
        return self.spec.run_model(job.name) + (" (resuming)" if job.resume else "")

    def train_here(self, job: Job) -> None:
        from mtp_cli.train import train

        def work() -> None:
            with self.reporter.train_observer() as observer:
                result = train(job.config, resume=job.resume, observer=observer)
            if result.status != "completed":
                raise PipelineInterrupted(f"training stopped at step {result.step}; {result.checkpoint} was saved")

        step = f"train/{job.name}"
        self._run_step(step, self._train_detail(job), "resumed" if job.resume else "ran", work)
        self._mark_done(step, job.key, job.config.out / MANIFEST_NAME)

    def train_runs(self) -> None:
        jobs = [job for job in map(self._training_job, self.spec.runs) if job is not None]
        if self.jobs == 1 or len(jobs) == 1:
            for job in jobs:
                self.train_here(job)
        elif jobs:
            self.train_side_by_side(jobs)

    def train_side_by_side(self, jobs: list[Job]) -> None:
        """`self.jobs` runs at a time, each in its own process, the costliest first."""
        by_name = {job.name: job for job in jobs}
        stopped: list[Outcome] = []

        def started(job: Job) -> None:
            self.reporter.step_started(f"train/{job.name}", self._train_detail(job))

        def finished(outcome: Outcome) -> None:
            job = by_name[outcome.name]
            if outcome.status != "completed":
                stopped.append(outcome)
                runs.stop()  # the others save and stop: each can resume on the next run
                return
            step = f"train/{job.name}"
            self.reporter.step_finished(step, outcome.seconds)
            self.result.steps.append(StepRecord(step, "resumed" if job.resume else "ran", outcome.seconds, self._train_detail(job)))
            self._mark_done(step, job.key, job.config.out / MANIFEST_NAME)

        ordered = longest_first(jobs, lambda job: _training_cost(job.config, self.spec.tokenized))
        with self.reporter.runs_display([job.name for job in ordered]) as display:
            runs = SideBySide(ordered, self.jobs, display.observer)
            runs.run(started, finished)
        failed = [outcome for outcome in stopped if outcome.error is not None]
        if failed:
            raise MtpError(f"train/{failed[0].name}: {failed[0].error.message}", failed[0].error.hint)
        if stopped:
            where = ", ".join(f"{o.name} saved at step {o.step}" if o.step is not None else f"{o.name} without a save" for o in stopped)
            raise PipelineInterrupted(f"trainings stopped: {where}")
        if runs.interrupted:
            raise PipelineInterrupted("interrupted as the last training finished")

    def generate(self, run: str, generation: GenerationSpec) -> bool:
        """Returns False when the run cannot do this generation (speculative with one head)."""
        from mtp_cli.generate import generate_samples

        step = f"generate/{run}/{generation.name}"
        heads = self.spec.runs[run].heads
        if generation.speculative and heads == 1:
            self._skipped(step, "not applicable: a 1-head model has no heads to draft with")
            return False
        config = self.spec.generation_config(generation, run)
        manifest = sidecar_path(config.out)
        inputs = [self.spec.run_folder(run) / MANIFEST_NAME]
        if self.spec.synth is not None:  # the test problems are an input of their own
            inputs.append(self.spec.synth_folder / "test.jsonl")
        if config.problems is not None:  # a user's problem file: its content, not only its path
            inputs.append(Path(config.problems))
        key = markers.step_key(_settings(config, "checkpoint", "out", "device", "overwrite"), inputs)
        if self._skip_if_done(step, key, manifest):
            return True

        def work() -> None:
            with self.reporter.progress() as progress:
                generate_samples(config, progress)

        self._run_step(step, f"{config.mode} on {config.dataset or config.problems or config.prompts or 'one prompt'}", "ran", work)
        self._mark_done(step, key, manifest)
        return True

    def evaluate(self, run: str, generation: GenerationSpec) -> None:
        if self.spec.synth is not None:
            self.evaluate_exact(run, generation)
            return
        from mtp_cli.eval import EvalConfig, SandboxConfig, evaluate
        from mtp_cli.problems import problem_set

        settings, dataset, problems = self.spec.eval, generation.config.dataset, generation.config.problems
        step = f"eval/{run}/{generation.name}"
        if generation.config.fixed_length:
            self._skipped(step, "not applicable: fixed-length samples run past their stops (a speed measurement)")
            return
        samples, out = self.spec.samples_file(run, generation.name), self.spec.eval_folder(run, generation.name)
        benchmark = problem_set(dataset, problems).info
        sandbox = SandboxConfig(timeout=settings.timeout or benchmark.default_timeout, memory_mb=settings.memory_mb)
        config = EvalConfig(dataset=dataset, problems=problems, out=out, samples=samples, ks=list(settings.ks), workers=settings.workers, sandbox=sandbox)
        inputs = [samples] + ([Path(problems)] if problems is not None else [])
        key = markers.step_key(_settings(config, "out", "samples", "workers", "resume", "overwrite"), inputs)
        if self._skip_if_done(step, key, out / MANIFEST_NAME):
            return

        def work() -> None:
            with self.reporter.progress() as progress:
                try:  # reuses the results of unchanged completions, if any
                    evaluate(EvalConfig(**{**vars(config), "resume": True}), progress)
                except MtpError:  # evaluated before with other sandbox settings
                    evaluate(EvalConfig(**{**vars(config), "overwrite": True}), progress)

        self._run_step(step, f"pass@{','.join(map(str, settings.ks))} on {benchmark.name}", "ran", work)
        self._mark_done(step, key, out / MANIFEST_NAME)

    def evaluate_exact(self, run: str, generation: GenerationSpec) -> None:
        from mtp_cli.eval.exact import ExactConfig, evaluate_exact

        step = f"eval/{run}/{generation.name}"
        samples, out = self.spec.samples_file(run, generation.name), self.spec.eval_folder(run, generation.name)
        problems = self.spec.synth_folder / "test.jsonl"
        key = markers.step_key({"metric": "exact_match"}, [samples, problems])
        if self._skip_if_done(step, key, out / MANIFEST_NAME):
            return
        config = ExactConfig(samples=samples, problems=problems, out=out, overwrite=True)
        self._run_step(step, f"exact match on {self.spec.synth.task}", "ran", lambda: evaluate_exact(config))
        self._mark_done(step, key, out / MANIFEST_NAME)

    def report(self) -> None:
        from mtp_cli.report import ReportConfig, write_report

        folder, step = self.spec.report_folder, "report"
        key = markers.step_key({}, sorted(self._outputs))  # runs trained side by side finish in any order
        self.result.report = folder
        if self._skip_if_done(step, key, folder / MANIFEST_NAME):
            return
        self._run_step(step, "figures and summary.md", "ran", lambda: write_report(ReportConfig(inputs=[self.spec.out], out=folder)))
        markers.mark_done(self.spec.out, step, key, folder / MANIFEST_NAME)

    # ---- the whole pipeline ---------------------------------------------------------------

    def run(self) -> PipelineResult:
        spec = self.spec
        _refuse_torchrun()
        _claim_output_folder(spec.out)
        atomic_write_text(spec.out / "recipe.yaml", yaml.safe_dump(spec.recipe, sort_keys=False))
        self._write_manifest("running")
        try:
            if spec.imported is not None:
                self.import_model()
            if spec.synth is not None:
                self.synthesize()
            self.tokenize()
            self.train_runs()
            for name in spec.runs:
                for generation in spec.generations:
                    if self.generate(name, generation) and spec.eval is not None:
                        self.evaluate(name, generation)
            if spec.report:
                self.report()
        except (PipelineInterrupted, KeyboardInterrupt):
            self._write_manifest("interrupted")
            raise
        except BaseException:
            self._write_manifest("failed")
            raise
        self._write_manifest("completed")
        return self.result


def run_pipeline(spec: PipelineSpec, reporter: PipelineReporter | None = None, jobs: int = 1) -> PipelineResult:
    """`jobs` > 1 trains that many runs at a time, each in its own process (the results are the same)."""
    return PipelineRunner(spec, reporter, jobs).run()


def _training_cost(config: Any, tokenized: Path) -> float:
    """A run's training FLOPs, from its model settings and the data's vocabulary and row length:
    enough to order the runs by length."""
    from mtp_cli.model import build_config
    from mtp_cli.model.flops import train_flops_per_token

    data = read_manifest(tokenized, "tokenized")
    overrides = {"vocab_size": data["tokenizer"]["vocab_size"], **config.model_overrides, "n_future_tokens": config.heads}
    tokens = config.tokens or (config.steps or 1) * config.batch_tokens
    return train_flops_per_token(build_config(config.preset, overrides), data["seq_len"]) * tokens


def _settings(config: Any, *ignored: str) -> dict[str, Any]:
    """A step's settings without those that change only how it runs (workers, device, ...) and
    without its paths: those follow from OUT, and the inputs' content is hashed on its own, so a
    pipeline folder stays current when it is moved."""
    return {name: value for name, value in vars(config).items() if name not in ignored}


def _fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    """Name, size and modification time of a model folder's files: enough to see that it changed
    without hashing gigabytes on every run (the import's manifest holds the sha256 of each)."""
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())


def _can_resume(config: Any, tokenized: Path) -> bool:
    """An unfinished run of the same settings on the same data continues from its last checkpoint."""
    from mtp_cli.train.config import merge_for_resume

    try:
        stored = read_manifest(config.out, "run")
        merge_for_resume(stored["arguments"], config.to_dict())  # refuses other settings
        same_data = stored["inputs"][0]["manifest_sha256"] == sha256_file(tokenized / MANIFEST_NAME)
    except (MtpError, KeyError, IndexError, TypeError):
        return False
    return same_data and stored.get("status") != "completed"


def _refuse_torchrun() -> None:
    """Every torchrun process would tokenize, generate and evaluate again: one process runs a recipe."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise MtpError(
            "mtp pipeline run is one process; it was started by torchrun with WORLD_SIZE > 1",
            "run the recipe's training under torchrun with `mtp train` (README: Multiple GPUs), the other steps without it",
        )


def _claim_output_folder(out: Path) -> None:
    """OUT must be new, empty, or an earlier output of `mtp pipeline run`."""
    if out.exists() and not out.is_dir():
        raise MtpError(f"--out {out} exists and is a file", "choose a folder path")
    if out.exists() and any(out.iterdir()):
        try:
            read_manifest(out, "pipeline")
        except MtpError:
            raise MtpError(
                f"--out {out} exists, is not empty and is not an `mtp pipeline run` folder",
                "choose another --out; mtp never deletes a folder it did not write",
            ) from None
    out.mkdir(parents=True, exist_ok=True)
