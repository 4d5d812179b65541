"""`mtp train`: a trunk with n future-token heads, trained with the memory-efficient head order.

Components, one concept each: `config` (TrainConfig, what --resume may change), `data` (rows,
shifted targets, sampler position), `objective` (the two backward orders), `schedule`, `optimizer`,
`setup` (checks, model building, --init-from, --freeze-trunk), `checkpointing`, `metrics`,
`validation` (per-head validation loss), `run_folder` (run manifest), and `trainer` (the loop).
"""

from mtp_cli.artifacts.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "config",
    "NullObserver": "observer",
    "TrainObserver": "observer",
    "config_for_resume": "run_folder",
    "NonFiniteLoss": "trainer",
    "Trainer": "trainer",
    "TrainResult": "trainer",
    "train": "trainer",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
