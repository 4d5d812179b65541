"""`mtp pipeline run --jobs N`: training runs side by side, one process each, computing what one
process computes; a failure, a killed process and Ctrl-C each stop the others, which resume."""

from __future__ import annotations

import multiprocessing
import re
import os
import signal
import struct
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml

from mtp_cli.artifacts import MtpError, read_manifest
from mtp_cli.cli import main
from mtp_cli.model.checkpoint import resolve_checkpoint, weights_sha256
from mtp_cli.pipeline import PipelineInterrupted, QuietReporter, build_pipeline, load_recipe_file, run_pipeline
from mtp_cli.pipeline.parallel import Job, Running, SideBySide, longest_first
from mtp_cli.train import NullObserver

POLYNOMIALS = Path(__file__).resolve().parents[2] / "pipelines" / "polynomials.yaml"
SHRUNK = [
    "synth.train_problems=600", "synth.test_problems=2", "synth.test_max_operations=6", "tokenize.seq_len=256",
    "train.steps=12", "train.batch_tokens=1024", "train.micro_batch=4", "train.warmup=1", "train.eval_every=4",
    "train.eval_tokens=1024", "train.save_every=4", "train.model_overrides={dim: 32, n_layers: 3, n_heads: 2, max_seq_len: 256}",
]
# "wide" takes several times longer a step than the others, so that it is mid-step when they stop.
RUNS = {"n1": {"heads": 1, "steps": 60}, "n2": {"heads": 2, "steps": 60},
        "wide": {"heads": 1, "batch_tokens": 8192, "model_overrides": {"dim": 64, "n_layers": 3, "n_heads": 2, "max_seq_len": 256}}}


def spec_for(out: Path, runs: dict | None = None, *more: str):
    recipe = load_recipe_file(POLYNOMIALS, [*SHRUNK, *more])
    recipe["runs"] = runs or RUNS
    return build_pipeline(recipe, out)


def weights(out: Path, run: str) -> str:
    return weights_sha256(resolve_checkpoint(out / "runs" / run))


def statuses(result) -> dict[str, str]:
    return {record.step: record.status for record in result.steps if record.step.startswith("train/")}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jobs") / "one-process"
    run_pipeline(spec_for(out))
    return out


def test_runs_side_by_side_train_what_one_process_trains(one_process, tmp_path):
    out = tmp_path / "two-jobs"
    reporter = QuietReporter()
    result = run_pipeline(spec_for(out), reporter, jobs=2)
    assert statuses(result) == {"train/n1": "ran", "train/n2": "ran", "train/wide": "ran"}
    started = [step for kind, step, _ in reporter.events if kind == "started" and step.startswith("train/")]
    assert started[0] == "train/wide"  # the costliest run starts first
    for run in RUNS:
        assert weights(out, run) == weights(one_process, run)
    assert read_manifest(out, "pipeline")["status"] == "completed"
    rerun = run_pipeline(spec_for(out), jobs=2)
    assert all(record.status == "skipped" for record in rerun.steps)


class CtrlCOnceAllStepped:
    """Sends the pipeline's own process Ctrl-C, as a user at the terminal would, once every run has
    made a step (so that each is in its training loop)."""

    def __init__(self, runs: list[str]):
        self.waiting, self.sent = set(runs), False

    def observer(self, run: str) -> NullObserver:
        outer = self

        class Stepped(NullObserver):
            def on_step(self, record) -> None:
                outer.waiting.discard(run)
                if not outer.waiting and not outer.sent:
                    outer.sent = True
                    os.kill(os.getpid(), signal.SIGINT)

        return Stepped()


class KillAt(NullObserver):
    """Kills a run's process at a step, as the kernel's out-of-memory killer would."""

    def __init__(self, run: str, step: int):
        self.run, self.step = run, step

    def on_step(self, record) -> None:
        if record["step"] == self.step:
            for process in multiprocessing.active_children():
                if process.name == f"mtp-train-{self.run}":
                    process.kill()


class RunsReporter(QuietReporter):
    def __init__(self, display):
        super().__init__()
        self.display = display

    def runs_display(self, runs):
        return nullcontext(self.display)


class KillsOne:
    def __init__(self, run: str, step: int):
        self.run, self.step = run, step

    def observer(self, run: str) -> NullObserver:
        return KillAt(run, self.step) if run == self.run else NullObserver()


def test_ctrl_c_stops_every_run_with_a_save_and_the_rerun_resumes_them_exactly(one_process, tmp_path):
    # One SIGINT per run, however the others end: a second would abort the slow run mid-step unsaved.
    out = tmp_path / "ctrl-c"
    with pytest.raises(PipelineInterrupted, match="trainings stopped"):
        run_pipeline(spec_for(out), RunsReporter(CtrlCOnceAllStepped(list(RUNS))), jobs=3)
    assert read_manifest(out, "pipeline")["status"] == "interrupted"
    for run in RUNS:
        manifest = read_manifest(out / "runs" / run, "run")
        assert manifest["status"] == "interrupted" and 1 <= manifest["step"] < manifest["arguments"]["steps"]
    result = run_pipeline(spec_for(out), jobs=3)
    assert statuses(result) == {"train/n1": "resumed", "train/n2": "resumed", "train/wide": "resumed"}
    for run in RUNS:
        assert weights(out, run) == weights(one_process, run)


class FakeProcess:
    def __init__(self, pid: int, exitcode: int | None = None):
        self.pid, self.exitcode = pid, exitcode

    def is_alive(self) -> bool:
        return self.exitcode is None

    def join(self) -> None:
        pass


def test_each_training_gets_one_sigint_per_ctrl_c(monkeypatch):
    """Ctrl-C, then the other runs' ends, send each training one SIGINT: a second one would abort a
    training still in its step, without a save. A second Ctrl-C does send the second."""
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    runs = SideBySide([], 2, observer=lambda name: NullObserver())
    runs.running = {"a": Running(FakeProcess(1), None, ready=True), "b": Running(FakeProcess(2), None, ready=True)}
    runs.on_ctrl_c()
    runs.stop()  # run a stopped: the pipeline stops the others
    assert sent == [(1, signal.SIGINT), (2, signal.SIGINT)] and runs.interrupted
    runs.on_ctrl_c()
    assert sent[2:] == [(1, signal.SIGINT), (2, signal.SIGINT)]


def test_a_run_still_starting_gets_its_sigint_once_it_is_ready(monkeypatch):
    """A run starts with SIGINT ignored: the Ctrl-C meant for it is sent when it says it is ready."""
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    runs = SideBySide([], 2, observer=lambda name: NullObserver())
    runs.running = {"starting": Running(FakeProcess(1), None)}
    runs.on_ctrl_c()
    assert sent == []
    runs._now_ready("starting")
    assert sent == [(1, signal.SIGINT)]
    runs._now_ready("starting")  # owed once, sent once
    assert sent == [(1, signal.SIGINT)]


def test_a_failing_run_stops_the_others_which_resume_once_it_is_fixed(tmp_path):
    out = tmp_path / "failing"
    runs = {"good": {"heads": 1, "steps": 200}, "bad": {"heads": 1, "model_overrides": {"dim": 32, "n_layers": 3, "n_heads": 2, "max_seq_len": 128}}}
    with pytest.raises(MtpError, match="train/bad: the data's rows are 256 tokens, the model's context is 128"):
        run_pipeline(spec_for(out, runs), jobs=2)
    assert read_manifest(out, "pipeline")["status"] == "failed"
    # Stopped with a save, or, when the failure came before its loop began, with nothing to keep.
    assert not (out / "runs" / "good" / "manifest.json").exists() or read_manifest(out / "runs" / "good", "run")["status"] != "completed"
    runs["bad"] = {"heads": 1}
    rerun = statuses(run_pipeline(spec_for(out, runs), jobs=2))
    assert rerun["train/bad"] == "ran" and rerun["train/good"] in ("resumed", "ran")
    assert read_manifest(out / "runs" / "good", "run")["step"] == 200


def test_a_killed_run_is_reported_in_one_line(tmp_path):
    out = tmp_path / "killed"
    with pytest.raises(MtpError, match="train/n2: its training process ended with exit code -9 before finishing"):
        run_pipeline(spec_for(out), RunsReporter(KillsOne("n2", step=2)), jobs=2)
    assert read_manifest(out, "pipeline")["status"] == "failed"


def test_longest_first_keeps_the_recipe_order_among_equals():
    jobs = [Job(name, None, False) for name in ("a", "b", "c", "d")]
    cost = {"a": 1.0, "b": 3.0, "c": 1.0, "d": 2.0}
    assert [job.name for job in longest_first(jobs, lambda job: cost[job.name])] == ["b", "d", "a", "c"]


def test_jobs_must_be_positive(capsys):
    assert main(["pipeline", "run", str(POLYNOMIALS), "--jobs", "0"]) == 2
    with pytest.raises(MtpError, match="--jobs must be 1 or more"):
        run_pipeline(spec_for(Path("unused")), jobs=0)


def test_the_cli_shows_each_run_side_by_side_in_plain_lines(tmp_path, capsys):
    """stderr is not a terminal under pytest: a line per run every --log-every seconds."""
    recipe = load_recipe_file(POLYNOMIALS, SHRUNK)
    recipe["runs"] = {"n1": {"heads": 1}, "n2": {"heads": 2}}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(recipe))
    args = ["pipeline", "run", str(tmp_path / "two.yaml"), "--out", str(tmp_path / "cli"), "--jobs", "2", "--log-every", "0.001"]
    assert main(args) == 0
    err = capsys.readouterr().err
    for run in ("n1", "n2"):
        assert f"{run}: training " in err and f"done train/{run} in " in err
        assert re.search(rf"^\d\d:\d\d:\d\d {run} step 12/12, loss per head [\d. ]+, [\d,]+ tok/s, ETA", err, re.M), err
        assert re.search(rf"^\d\d:\d\d:\d\d {run} step 12: validation loss per head", err, re.M)


def test_the_live_table_has_a_row_per_run():
    from mtp_cli.cli.train import RunsDisplay

    display = RunsDisplay(["a", "b"])
    a = display.observer("a")
    a.on_start({"parameters": 1e6, "start_step": 0, "total_steps": 10, "tokens_per_step": 512, "heads": 2})
    a.on_step({"step": 4, "step_seconds": 2.0, "tokens_per_second": 1234.0, "head_loss": [1.5, 2.25], "tokens": 2048, "lr": 1e-3})
    a.on_eval({"step": 4, "head_loss": [1.25, 2.5]})
    assert a.cells() == ("a", "4/10", "1,234", "1.500  2.250", "1.250  2.500 (step 4)", "00:00:12")
    assert display.observer("b").cells()[:2] == ("b", "waiting")


def test_a_run_killed_mid_message_is_reported_and_the_others_still_heard():
    """A process killed while writing leaves half a message in its own pipe only: the run is reported
    with its exit code and the other run's messages still arrive (a shared queue's write lock, held
    by the dead writer, hung every other run)."""
    context = multiprocessing.get_context("spawn")
    cut, cut_writer = context.Pipe(duplex=False)
    os.write(cut_writer.fileno(), struct.pack("!i", 1000) + b"half a message")
    cut_writer.close()
    heard, heard_writer = context.Pipe(duplex=False)
    heard_writer.send(("on_notice", ("still here",)))
    notices, outcomes = [], []

    class Notices(NullObserver):
        def on_notice(self, message: str) -> None:
            notices.append(message)

    runs = SideBySide([], 2, observer=lambda name: Notices())
    runs.running = {"killed": Running(FakeProcess(1, exitcode=-9), cut), "alive": Running(FakeProcess(2), heard)}
    for _ in range(2):
        runs._next_events(outcomes.append)
        runs._reap_dead(outcomes.append)
    assert notices == ["still here"]
    assert [(o.name, o.status) for o in outcomes] == [("killed", "failed")]
    assert "exit code -9" in outcomes[0].error.message and list(runs.running) == ["alive"]
    heard_writer.close()
