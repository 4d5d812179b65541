"""Experiment trackers (`--log-to tensorboard|wandb|mlflow`): every metrics.jsonl record, sent as it
is written, through the trainer's observer, on rank 0 only (the trainer gives other ranks none).

Each tracker is an optional package, imported only when asked for. A record becomes scalars named
`EVENT/FIELD`, a per-head list one scalar per head (`train/head_loss/1` is the next-token head),
logged at the record's step:

- tensorboard: event files in RUN/tensorboard/ (`tensorboard --logdir RUN/tensorboard`);
- wandb: a run named after the run folder, its files in RUN/wandb/; WANDB_PROJECT (default "mtp"),
  WANDB_MODE=offline and the rest of W&B's environment apply;
- mlflow: a run named after the run folder, in the experiment MLFLOW_EXPERIMENT_NAME (default "mtp")
  at MLFLOW_TRACKING_URI (default: mlflow's own, ./mlruns).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name: package it needs
INSTALL_HINT = "pip install 'mtp-cli[trackers]' (or the tracker's own package)"


def check_trackers(names: list[str]) -> None:
    """Refuse unknown trackers and missing packages before any work starts."""
    for name in names:
        if name not in TRACKERS:
            raise MtpError(f"--log-to {name!r} is not a tracker mtp knows", f"choose from {', '.join(TRACKERS)}")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise MtpError(f"--log-to {name} needs the {TRACKERS[name]} package, which is not installed", INSTALL_HINT)


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """A metrics.jsonl record as flat `EVENT/FIELD` numbers; text, None and the step itself left out."""
    event = record.get("event", "train")
    flat: dict[str, float] = {}
    for key, value in record.items():
        if key in ("event", "step", "split") or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            flat[f"{event}/{key}"] = float(value)
        elif isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
            flat.update({f"{event}/{key}/{k + 1}": float(v) for k, v in enumerate(value)})
    return flat


def _flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return flat


class TensorBoardTracker:
    def __init__(self, run: Path, params: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run / "tensorboard"))
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in _flat_params(params).items()))

    def log(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    def __init__(self, run: Path, params: dict[str, Any]) -> None:
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "mtp"), name=run.name, dir=str(run), config=_flat_params(params),
            reinit="create_new",
        )

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


class MlflowTracker:
    def __init__(self, run: Path, params: dict[str, Any]) -> None:
        import mlflow

        self.client = mlflow.MlflowClient()
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "mtp")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=run.name).info.run_id
        for key, value in _flat_params(params).items():
            self.client.log_param(self.run_id, key, str(value)[:500])

    def log(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name.replace("/", "."), value, now, step) for name, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


_CLASSES = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "mlflow": MlflowTracker}


class TrackerObserver:
    """A TrainObserver that opens the trackers at the start and sends each record to all of them."""

    def __init__(self, names: list[str], run: Path, config: dict[str, Any]) -> None:
        self.names, self.run, self.config = list(dict.fromkeys(names)), Path(run), config
        self.trackers: list[Any] = []

    def on_start(self, plan: dict[str, Any]) -> None:
        params = {"config": self.config, "plan": plan}
        for name in self.names:
            try:
                self.trackers.append(_CLASSES[name](self.run, params))
            except Exception as e:  # the tracker's own settings (a URI, a login): say which, in one line
                first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise MtpError(f"--log-to {name} could not start: {first_line}", "check the tracker's environment variables") from e

    def on_step(self, record: dict[str, Any]) -> None:
        self._log(record)

    def on_eval(self, record: dict[str, Any]) -> None:
        self._log(record)

    def on_checkpoint(self, step: int, folder: Path) -> None:
        pass

    def on_notice(self, message: str) -> None:
        pass

    def _log(self, record: dict[str, Any]) -> None:
        values = scalars(record)
        for tracker in self.trackers:
            tracker.log(values, record["step"])

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.trackers = []


class Observers:
    """Several observers as one, in order."""

    def __init__(self, *observers: Any) -> None:
        self.observers = observers

    def on_start(self, plan: dict[str, Any]) -> None:
        for observer in self.observers:
            observer.on_start(plan)

    def on_step(self, record: dict[str, Any]) -> None:
        for observer in self.observers:
            observer.on_step(record)

    def on_eval(self, record: dict[str, Any]) -> None:
        for observer in self.observers:
            observer.on_eval(record)

    def on_checkpoint(self, step: int, folder: Path) -> None:
        for observer in self.observers:
            observer.on_checkpoint(step, folder)

    def on_notice(self, message: str) -> None:
        for observer in self.observers:
            getattr(observer, "on_notice", lambda _: None)(message)  # observers written before notices
