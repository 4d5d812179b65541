"""Model structure: layer accounting across n, head variants, presets and overrides."""

from __future__ import annotations

import pytest
import torch

from mtp_cli.artifacts import MtpError
from mtp_cli.model import ModelConfig, MtpTransformer, build_config, parse_override, train_flops_per_token
from mtp_cli.model.layers import Block


def small(**overrides) -> ModelConfig:
    return build_config("tiny", {"vocab_size": 97, "dim": 32, "n_heads": 2, "n_layers": 6, **overrides})


def test_total_layers_are_equal_across_n():
    one, four = MtpTransformer(small(n_future_tokens=1)), MtpTransformer(small(n_future_tokens=4))
    assert len(one.trunk_blocks) == 5 and len(one.extra_heads) == 0
    assert len(four.trunk_blocks) == 2 and len(four.extra_heads) == 3
    assert one.num_params() == four.num_params()


def test_heads_on_top_keep_the_next_token_model_whole():
    model = MtpTransformer(small(n_future_tokens=4, extra_heads_on_top=True))
    assert len(model.trunk_blocks) == 5 and len(model.extra_heads) == 3
    assert model.config.total_blocks == 9


def test_linear_heads_are_linear_maps_on_the_full_trunk():
    model = MtpTransformer(small(n_future_tokens=4, head_type="linear"))
    assert len(model.trunk_blocks) == 5
    assert isinstance(model.head_module(0), Block)
    assert all(isinstance(h, torch.nn.Linear) for h in model.extra_heads)
    assert torch.equal(model.extra_heads[0].weight, torch.eye(32))


def test_one_shared_norm_and_unembedding_and_untied_by_default():
    model = MtpTransformer(small())
    assert model.output.weight.data_ptr() != model.tok_embeddings.weight.data_ptr()
    tied = MtpTransformer(small(tie_embeddings=True))
    assert tied.output.weight is tied.tok_embeddings.weight
    assert tied.num_params() == model.num_params() - 97 * 32


def test_forward_shapes_and_head_selection():
    torch.manual_seed(0)
    model = MtpTransformer(small()).eval()
    tokens = torch.randint(0, 97, (2, 10))
    with torch.no_grad():
        out = model(tokens)
        assert out.logits.shape == (2, 10, 4, 97) and out.logits.dtype == torch.float32
        assert out.trunk.shape == (2, 10, 32)
        picked = model(tokens, heads=[2, 0], last=3).logits
    torch.testing.assert_close(picked[:, :, 0], out.logits[:, -3:, 2])
    torch.testing.assert_close(picked[:, :, 1], out.logits[:, -3:, 0])


def test_logits_come_in_the_computations_dtype():
    # No vocabulary-wide float32 copy under autocast: the loss and decoding upcast where they need to.
    model = MtpTransformer(small()).eval()
    hidden = torch.randn(2, 5, 32)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model.unembed(hidden).dtype == torch.bfloat16
            assert model(torch.zeros(1, 3, dtype=torch.long)).logits.dtype == torch.bfloat16
        assert model.unembed(hidden).dtype == torch.float32
        assert model.double().unembed(hidden.double()).dtype == torch.float64


def test_heads_read_the_trunk_independently():
    """Changing head 3's weights changes only head 3's logits (the parallel architecture)."""
    torch.manual_seed(0)
    model = MtpTransformer(small()).eval()
    tokens = torch.randint(0, 97, (1, 8))
    with torch.no_grad():
        before = model(tokens).logits
        model.extra_heads[1].feed_forward.w2.weight.add_(0.5)
        after = model(tokens).logits
    assert torch.equal(before[..., [0, 1, 3], :], after[..., [0, 1, 3], :])
    assert not torch.equal(before[..., 2, :], after[..., 2, :])


def test_model_is_causal():
    torch.manual_seed(0)
    model = MtpTransformer(small()).eval()
    tokens = torch.randint(0, 97, (1, 12))
    changed = tokens.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % 97
    with torch.no_grad():
        a, b = model(tokens).logits, model(changed).logits
    torch.testing.assert_close(a[:, :7], b[:, :7])


def test_presets_and_refused_shapes():
    assert build_config("7b").dim == 4096 and build_config("7b").n_layers == 32 and build_config("7b").n_heads == 32
    with pytest.raises(MtpError, match="unknown preset"):
        build_config("huge")
    with pytest.raises(MtpError, match="no trunk"):
        small(n_future_tokens=6)
    assert small(n_future_tokens=8, extra_heads_on_top=True).trunk_layers == 5
    with pytest.raises(MtpError, match="attention heads"):
        small(n_heads=5)
    with pytest.raises(MtpError, match="head_type"):
        small(head_type="mlp")


def test_overrides_parse_to_the_field_type():
    assert parse_override("dim=256") == ("dim", 256)
    assert parse_override("rope_theta=5e5") == ("rope_theta", 500000.0)
    assert parse_override("tie_embeddings=true") == ("tie_embeddings", True)
    assert parse_override("ffn_dim=none") == ("ffn_dim", None)
    with pytest.raises(MtpError, match="FIELD=VALUE"):
        parse_override("width=3")
    with pytest.raises(MtpError, match="--set dim='big' is not a int"):
        parse_override("dim=big")
    with pytest.raises(MtpError, match="is not a bool"):  # judged by the type, not the annotation's text
        parse_override("tie_embeddings=maybe")
    assert parse_override("rope_scaling={rope_type: linear, factor: 2.0}") == ("rope_scaling", {"rope_type": "linear", "factor": 2.0})


def test_with_heads_keeps_trunk_and_head_one():
    four = small(n_future_tokens=4)
    one = four.with_heads(1)
    assert one.trunk_layers == four.trunk_layers == 2 and one.n_layers == 3
    assert one.with_heads(4) == four


def test_flop_ratio_counts_one_unembedding_per_head():
    one, four = small(n_future_tokens=1), small(n_future_tokens=4)
    extra = train_flops_per_token(four, 64) - train_flops_per_token(one, 64)
    assert extra == pytest.approx(3 * 3 * 2 * 32 * 97)


def test_rms_norm_normalizes_in_float32_or_wider_and_returns_the_input_dtype():
    from mtp_cli.model.layers import RMSNorm

    norm = RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 16))
    x = torch.randn(3, 5, 16) * 40
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        got = norm(x.to(dtype))
        x32 = x.to(dtype).to(torch.promote_types(dtype, torch.float32))
        expected = (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dtype) * norm.weight
        assert got.dtype == expected.dtype
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_the_docs_count_layers_as_the_code_does():
    # n_layers counts every block; the next-token path (trunk + head 1) is n_layers - n + 1 of them.
    import re
    from pathlib import Path

    import mtp_cli.model.config as config_module

    depth = {n: build_config("tiny", {"n_future_tokens": n}).trunk_layers + 1 for n in (1, 4)}
    assert depth == {1: 6, 4: 3}
    assert build_config("tiny", {"n_future_tokens": 4}).total_blocks == build_config("tiny").n_layers
    assert f"{depth[1]} for `tiny` at n=1, {depth[4]} at n=4" in config_module.__doc__
    recipe = (Path(__file__).parents[2] / "pipelines" / "compare-heads.yaml").read_text()
    said = re.search(r"next-token depth \((\d+) blocks for n=1, (\d+) for n=4", recipe.replace("\n# ", " "))
    assert said and (int(said[1]), int(said[2])) == (depth[1], depth[4])
    assert "Held equal: total parameters" in recipe


def test_set_and_recipes_share_one_conversion():
    """`--set FIELD=VALUE` reads VALUE as YAML and converts it as a recipe's value: one function."""
    import typing

    import yaml

    from mtp_cli.artifacts.typed import coerce
    from mtp_cli.model import ModelConfig

    hints = typing.get_type_hints(ModelConfig)
    for text in ("dim=256", "rope_theta=5e5", "tie_embeddings=yes", "n_kv_heads=2", "rope_scaling={factor: 2.0}", "head_type=linear"):
        name, raw = text.split("=", 1)
        assert parse_override(text) == (name, coerce(yaml.safe_load(raw), hints[name], "recipe value x")), text
    for text in ("dim=2.5", "tie_embeddings=3", "rope_scaling=[1]"):
        with pytest.raises(MtpError, match=f"--set {text.split('=')[0]}="):
            parse_override(text)
