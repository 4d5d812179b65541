"""--init-from with a different number of heads, and --freeze-trunk."""

from __future__ import annotations

import torch

from mtp_cli.model import load_checkpoint
from mtp_cli.train import Trainer
from mtp_cli.train.metrics import MetricsLog

from train_helpers import small_config


def test_four_to_one_drops_the_extra_heads_and_trains(run_bpe_n4, tokenized_bpe, tmp_path):
    source, source_config, _ = load_checkpoint(run_bpe_n4)
    trainer = Trainer(small_config(tokenized_bpe, tmp_path / "ft", heads=1, init_from=run_bpe_n4, steps=4, lr=1e-3))
    model = trainer.model
    assert model.n_future_tokens == 1 and len(model.trunk_blocks) == source_config.trunk_layers
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name
    result = trainer.run()
    assert result.status == "completed"
    assert all(len(r["head_loss"]) == 1 for r in MetricsLog(tmp_path / "ft").read())
    assert load_checkpoint(tmp_path / "ft")[1].n_future_tokens == 1


def test_one_to_four_with_frozen_trunk_trains_only_the_new_heads(run_bytes_n1, tokenized_bytes, tmp_path):
    source, source_config, _ = load_checkpoint(run_bytes_n1)
    trainer = Trainer(
        small_config(tokenized_bytes, tmp_path / "ft", heads=4, init_from=run_bytes_n1, freeze_trunk=True, steps=4, lr=1e-3)
    )
    model = trainer.model
    assert model.n_future_tokens == 4 and len(model.trunk_blocks) == source_config.trunk_layers
    head_one = model.head_module(0).state_dict()
    for j in range(3):  # new heads start as copies of head 1
        for name, tensor in model.extra_heads[j].state_dict().items():
            assert torch.equal(tensor, head_one[name])
    result = trainer.run()
    assert result.status == "completed"
    trained, config, _ = load_checkpoint(tmp_path / "ft")
    for name, tensor in source.state_dict().items():  # the next-token model is untouched
        assert torch.equal(trained.state_dict()[name], tensor), name
    assert not torch.equal(trained.extra_heads[0].feed_forward.w2.weight, head_one["feed_forward.w2.weight"])
    record = [r for r in MetricsLog(tmp_path / "ft").read() if r["event"] == "train"][-1]
    assert len(record["head_loss"]) == 4


def test_one_to_four_unfrozen_trains_everything(run_bytes_n1, tokenized_bytes, tmp_path):
    trainer = Trainer(small_config(tokenized_bytes, tmp_path / "ft", heads=4, init_from=run_bytes_n1, steps=2, eval_every=100))
    before = trainer.model.tok_embeddings.weight.detach().clone()
    assert trainer.run().status == "completed"
    assert not torch.equal(trainer.model.tok_embeddings.weight, before)
