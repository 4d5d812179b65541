"""`mtp train`: a trunk with n future-token heads, trained with the memory-efficient head order.

Components, one concept each: `config` (TrainConfig, what --resume may change), `data` (rows,
shifted targets, sampler position), `objective` (the two backward orders), `schedule`, `optimizer`,
`setup` (checks, model building, --init-from, --freeze-trunk), `checkpointing`, `metrics`,
`validation` (per-head validation loss), `run_folder` (run manifest), and `trainer` (the loop).
"""

from mtp_cli.artifacts.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "config": "TrainConfig",
    "observer": "NullObserver TrainObserver",
    "run_folder": "config_for_resume holds_run",
    "trainer": "NonFiniteLoss Trainer TrainResult train",
})
