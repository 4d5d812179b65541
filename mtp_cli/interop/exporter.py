"""`export_model`: an mtp checkpoint out to a standard Hugging Face folder, extra heads beside it.

`AutoModelForCausalLM.from_pretrained(DIR)` loads the next-token model (trunk + head 1; Llama, or
Qwen2 when the attention has q/k/v biases only) and `AutoTokenizer.from_pretrained(DIR)` its
tokenizer. The extra heads go to `mtp_heads.safetensors` with `mtp_heads.json` (see `heads_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtp_cli.artifacts import (
    MtpError,
    NullProgress,
    ProgressSink,
    atomic_write_json,
    atomic_write_text,
    build_manifest,
    sha256_in_background,
    staged_folder,
    write_manifest,
)
from mtp_cli.artifacts.hf_tokenizer import special_tokens, write_tokenizer_config
from mtp_cli.interop import hf_layout
from mtp_cli.interop.heads_file import HEADS_CONFIG_NAME, HEADS_WEIGHTS_NAME, heads_document
from mtp_cli.interop.tensors import PlannedTensor, TensorSource, write_safetensors
from mtp_cli.model import ModelConfig, read_checkpoint_config
from mtp_cli.model.checkpoint import TOKENIZER_NAME, WEIGHTS_NAME, check_model_files, listing_sha256, read_weights, weights_sha256
from mtp_cli.model.hf_names import hf_name, in_heads_file, rotary_heads, to_half_split
from mtp_cli.model.hf_weights import weights_layout
from mtp_cli.model.transformer import TIED_NAME, stored_shapes
from mtp_cli.model.sharded import is_sharded


def plan_export(source: TensorSource, config: ModelConfig, extra_heads: bool, hf_source: bool) -> list[PlannedTensor]:
    """The next-token model's tensors under Hugging Face names (extra_heads=False), or the extra heads'.
    `hf_source`: the source already holds them in Hugging Face's names and layout, and they are copied."""
    planned = []
    for name in sorted(stored_shapes(config)):
        if in_heads_file(name) != extra_heads:
            continue
        target = hf_name(name)
        rows_heads = None if hf_source else rotary_heads(name, config)
        convert = None if rows_heads is None else (lambda t, h=rows_heads: to_half_split(t, h))
        planned.append(source.planned(target if hf_source else name, target, convert))
    return planned


def _source(folder: Path, info: dict[str, Any], config: ModelConfig) -> tuple[TensorSource, list[Path]]:
    """The checkpoint's tensors, and the weight files to hash (none for a sharded checkpoint, whose
    manifest holds its shards' hashes)."""
    layout = weights_layout(info)
    if layout is not None:  # an imported Hugging Face model's own files
        check_model_files(folder)
        files = [folder / entry["path"] for entry in layout["files"]]
        return TensorSource.from_safetensors(files), files
    if is_sharded(folder):  # consolidated on the fly, in memory
        tensors = read_weights(folder)
        if config.tie_embeddings:
            tensors.pop(TIED_NAME, None)  # stored once, as the embedding, like the single-file layout
        return TensorSource.from_tensors(tensors), []
    return TensorSource.from_safetensors([folder / WEIGHTS_NAME]), [folder / WEIGHTS_NAME]


def _weights_hash(folder: Path, hashed: list[dict[str, Any]]) -> str:
    """The same hash `weights_sha256` gives, from the files hashed in the background."""
    if not hashed:
        return weights_sha256(folder)
    if len(hashed) == 1:
        return hashed[0]["sha256"]
    return listing_sha256([(Path(e["path"]).name, e["sha256"]) for e in hashed])


def export_model(checkpoint: str | Path, out: str | Path, overwrite: bool = False, progress: ProgressSink | None = None) -> dict[str, Any]:
    """Write the Hugging Face folder `out` from an mtp checkpoint (or run folder); return its manifest."""
    progress = progress or NullProgress()
    folder, info = read_checkpoint_config(checkpoint)
    config = ModelConfig.from_dict(info["model"])
    if config.extra_heads_on_top:
        raise MtpError("this model's extra heads sit on top of head 1 (--heads-on-top), which a Hugging Face model cannot express", "export a model trained without --heads-on-top")
    if config.head_type == "anticausal":
        raise MtpError("this model's head 1 reads its anticausal extra heads, which a Hugging Face model cannot express", "export a model with transformer, linear or causal heads")
    source, weight_files = _source(folder, info, config)
    hf_source = weights_layout(info) is not None
    next_token = plan_export(source, config, extra_heads=False, hf_source=hf_source)
    heads = plan_export(source, config, extra_heads=True, hf_source=hf_source)
    tokenizer = info.get("tokenizer", {})
    token_ids = special_tokens(tokenizer)["ids"]
    dtype = source.info(hf_name("tok_embeddings.weight") if hf_source else "tok_embeddings.weight").dtype

    out = Path(out)
    with staged_folder(out, overwrite) as stage, sha256_in_background(weight_files) as weights_hash:
        progress.phase("exporting", total=len(next_token) + len(heads), unit="tensors")
        write_safetensors(stage / "model.safetensors", next_token, on_tensor=lambda _: progress.advance(1))
        hf = hf_layout.hf_config(config, token_ids, dtype)
        atomic_write_json(stage / "config.json", hf)
        atomic_write_json(stage / "generation_config.json", {**token_ids, "do_sample": False})
        atomic_write_text(stage / TOKENIZER_NAME, (folder / TOKENIZER_NAME).read_text(encoding="utf-8"))
        write_tokenizer_config(stage, tokenizer, config.max_seq_len)
        if heads:
            write_safetensors(stage / HEADS_WEIGHTS_NAME, heads, on_tensor=lambda _: progress.advance(1))
            atomic_write_json(stage / HEADS_CONFIG_NAME, heads_document(config, tokenizer))
        manifest = build_manifest(
            "export",
            arguments={"checkpoint": checkpoint, "out": out},
            inputs=[{"kind": "checkpoint", "path": str(folder), "step": info.get("step"),
                     "sha256": _weights_hash(folder, weights_hash.result())}],
            model_type=hf["model_type"],
            n_future_tokens=config.n_future_tokens,
            files=sorted(p.name for p in stage.iterdir()),
        )
        write_manifest(stage, manifest)
    return manifest

