"""`--log-to`: each tracker receives every metrics.jsonl record, read back from its own files with
no network: TensorBoard's event file, W&B in offline mode, MLflow with a local file store."""

from __future__ import annotations

import json

import pytest

from mtp_cli.artifacts import MtpError
from mtp_cli.cli import main
from mtp_cli.train import train
from mtp_cli.train.trackers import scalars

from train_helpers import small_config


@pytest.fixture(scope="module")
def tracked_run(tokenized_bpe, tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true", "WANDB_PROJECT": "mtp-test",
           "MLFLOW_TRACKING_URI": (root / "mlruns").as_uri(), "MLFLOW_EXPERIMENT_NAME": "mtp-test",
           "MLFLOW_ALLOW_FILE_STORE": "true"}  # mlflow 3 keeps the file store behind this switch
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        run = root / "run"
        train(small_config(tokenized_bpe, run, steps=6, eval_every=3, log_to=["tensorboard", "wandb", "mlflow"]))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return run, records, root / "mlruns"


def expected(records, name):
    """{step: value} of one scalar, as the trackers should have it."""
    return {r["step"]: scalars(r)[name] for r in records if name in scalars(r)}


def test_tensorboard_event_file_holds_every_record(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, records, _ = tracked_run
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    for name in ("train/head_loss/1", "train/head_loss/4", "train/head_accuracy/2", "train/lr", "train/tokens_per_second", "eval/head_loss/3"):
        logged = {e.step: e.value for e in events.Scalars(name)}
        assert logged == pytest.approx(expected(records, name), rel=1e-6), name
    assert len(events.Scalars("train/loss")) == 6 and len(events.Scalars("eval/head_loss/1")) == 2


def wandb_records(path):
    """The protobuf records of a .wandb file: a 7-byte header, then LevelDB's log format (32 KiB
    blocks of chunks, each with a 7-byte header: crc32, little-endian length, type 1 full / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, payload = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        payload += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            payload = b""
            yield record


def test_wandb_offline_run_holds_every_record(tracked_run):
    run, records, _ = tracked_run
    [log] = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    history: dict[int, dict[str, float]] = {}
    for record in wandb_records(log):
        if record.WhichOneof("record_type") == "history":
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            history[items["_step"]] = items
    assert sorted(history) == [1, 2, 3, 4, 5, 6]
    for name in ("train/head_loss/1", "train/tokens_per_second", "train/grad_norm", "eval/head_accuracy/4"):
        want = expected(records, name)
        assert {step: history[step][name] for step in want} == pytest.approx(want, rel=1e-12), name


def test_mlflow_file_store_holds_every_record(tracked_run, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run, records, store = tracked_run
    client = mlflow.MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("mtp-test")
    [mlflow_run] = client.search_runs([experiment.experiment_id])
    assert mlflow_run.info.run_name == "run" and mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params["config.heads"] == "4"
    for name in ("train/head_loss/2", "train/lr", "eval/head_loss/1"):
        history = client.get_metric_history(mlflow_run.info.run_id, name.replace("/", "."))
        assert {m.step: m.value for m in history} == pytest.approx(expected(records, name), rel=1e-12), name


def test_unknown_tracker_is_refused(tokenized_bpe, tmp_path, capsys):
    with pytest.raises(MtpError, match="not a tracker"):
        small_config(tokenized_bpe, tmp_path / "r", log_to=["comet"])
    assert main(["train", str(tokenized_bpe), "--out", str(tmp_path / "r"), "--log-to", "neptune"]) == 2
    assert "--log-to 'neptune' is not a tracker mtp knows" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_trackers_are_imported_only_when_asked_for():
    import subprocess
    import sys

    code = ("import sys; from mtp_cli.cli import main; from mtp_cli.train import TrainConfig, train; "
            "print(sorted(m for m in ('wandb', 'mlflow', 'tensorboard') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
