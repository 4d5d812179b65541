"""`import_model`: a local Hugging Face or release model folder in, an ordinary mtp checkpoint out.

The checkpoint has what `mtp train` writes (weights, mtp_config.json, tokenizer.json, manifest.json),
so every later step takes it as it is. A Hugging Face model's safetensors files are kept as they are
(hard links, or copies across file systems: `mtp_cli.model.hf_weights`), so an import costs about one
read of the weights, to hash them. A release checkpoint's `.pth` shards are converted into
model.safetensors in mtp's names, one tensor at a time: peak memory stays near one tensor, not the
model. Tensors keep their stored dtype either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tokenizers import Tokenizer

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
from mtp_cli.interop import hf_layout, release
from mtp_cli.interop.heads_file import HEADS_CONFIG_NAME, HEADS_WEIGHTS_NAME, full_config, read_heads_config
from mtp_cli.interop.tensors import PlannedTensor, TensorSource, write_safetensors
from mtp_cli.model import ModelConfig
from mtp_cli.artifacts.hf_tokenizer import write_tokenizer_config
from mtp_cli.model.checkpoint import CONFIG_NAME, TOKENIZER_NAME, WEIGHTS_NAME
from mtp_cli.model.hf_names import hf_name
from mtp_cli.model.hf_weights import layout_entry, link_or_copy
from mtp_cli.model.transformer import stored_shapes
from mtp_cli.tokenize.vocab import describe, tokenizer_summary

# Tensors some checkpoints carry that no model weight comes from.
IGNORED_SOURCE_TENSORS = ("rotary_emb.inv_freq", "rope.freqs")


@dataclass
class ImportPlan:
    """What the source folder holds, in mtp's terms."""

    format: str  # huggingface | release
    config: ModelConfig
    tensors: list[PlannedTensor]
    tokenizer_json: str
    eos_token: str | None  # the model's own choice of EOS, where its folder names one
    files: list[Path]  # every file the checkpoint is made from
    details: dict[str, Any]
    linked: list[Path] = field(default_factory=list)  # weight files kept as they are (Hugging Face layout)


def detect_format(folder: Path) -> str:
    if not folder.is_dir():
        raise MtpError(f"{folder} is not a folder", "mtp import takes a local model folder")
    if (folder / "config.json").is_file():
        try:
            has_type = "model_type" in json.loads((folder / "config.json").read_text())
        except ValueError:
            raise MtpError(f"{folder / 'config.json'} is not JSON", "the model folder is damaged") from None
        if has_type:
            return "huggingface"
    if release.is_release_folder(folder):
        return "release"
    raise MtpError(
        f"{folder} is neither a Hugging Face model (config.json with model_type) nor a release checkpoint (params.json + consolidated.*.pth)",
        "point at the folder that holds the model's weights",
    )


def plan_tensors(
    config: ModelConfig,
    source: TensorSource,
    source_name: Callable[[str], str],
    origin: str,
) -> list[PlannedTensor]:
    """One planned tensor per weight of `config`, read from `source_name(name)` as it is: names and
    shapes are checked here."""
    planned = []
    for name, shape in stored_shapes(config).items():
        theirs = source_name(name)
        if theirs not in source:
            raise MtpError(f"{origin} has no tensor {theirs} (for {name})", "the folder is incomplete, or its config does not match its weights")
        info = source.info(theirs)
        if info.shape != shape:
            raise MtpError(f"{origin}: {theirs} is {list(info.shape)}, its config implies {list(shape)}", "the folder's config does not match its weights")
        planned.append(source.planned(theirs, name))
    return planned


def _unused(source: TensorSource, used: set[str], origin: str) -> None:
    left = [n for n in source.names() if n not in used and not n.endswith(IGNORED_SOURCE_TENSORS)]
    if left:
        raise MtpError(f"{origin} holds tensors mtp does not know ({', '.join(left[:3])})", f"supported: {hf_layout.SUPPORTED_LINE}")


# ---- Hugging Face folders -------------------------------------------------------------------------


def _hf_weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError):
            raise MtpError(f"{index} is not a safetensors index", "the model folder is damaged") from None
        files = [folder / name for name in sorted(set(weight_map.values()))]
    else:
        files = [folder / "model.safetensors"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        hint = "convert .bin weights with save_pretrained(safe_serialization=True)" if any(folder.glob("*.bin")) else "the folder is incomplete"
        raise MtpError(f"{folder} lacks {', '.join(missing)}", hint)
    return files


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        raise MtpError(f"{path} is not JSON", "the model folder is damaged") from None


def _token_text(value: Any) -> str | None:
    return value.get("content") if isinstance(value, dict) else value


def plan_huggingface(folder: Path) -> ImportPlan:
    hf = json.loads((folder / "config.json").read_text())
    config = hf_layout.config_from_hf(hf)
    files = _hf_weight_files(folder)
    if not (folder / TOKENIZER_NAME).is_file():
        raise MtpError(f"{folder} has no tokenizer.json", "save the tokenizer with save_pretrained (a fast tokenizer) beside the model")
    heads = read_heads_config(folder)
    if heads is not None:  # a folder `mtp export` wrote: the extra heads beside the model
        config = full_config(heads, config)
        files.append(folder / HEADS_WEIGHTS_NAME)
    source = TensorSource.from_safetensors(files)

    planned = plan_tensors(config, source, hf_name, str(folder))
    used = {hf_name(p.name) for p in planned} | ({"lm_head.weight"} if config.tie_embeddings else set())
    _unused(source, used, str(folder))
    weight_files = list(files)
    files += [folder / n for n in ("config.json", TOKENIZER_NAME, "tokenizer_config.json", HEADS_CONFIG_NAME) if (folder / n).is_file()]
    details = {"model_type": hf.get("model_type"), "architectures": hf.get("architectures"), "context_capped_at": config.max_seq_len}
    tokenizer_json = (folder / TOKENIZER_NAME).read_text(encoding="utf-8")
    eos = _token_text(_tokenizer_config(folder).get("eos_token"))
    return ImportPlan("huggingface", config, planned, tokenizer_json, eos, sorted(set(files)), details, weight_files)


# ---- release folders ------------------------------------------------------------------------------


def plan_release(folder: Path, tokenizer_model: Path | None) -> ImportPlan:
    from mtp_cli.interop.sentencepiece_tokenizer import convert_sentencepiece

    params = release.read_params(folder)
    shards = release.shard_files(folder)
    source = TensorSource.from_torch_shards(shards, release.parallel_dim)
    for needed in ("tok_embeddings.weight", "layers.0.feed_forward.w1.weight"):
        if needed not in source:
            raise MtpError(f"{shards[0]} has no {needed}", "is this a Llama-format consolidated checkpoint?")
    config = release_config_checked(params, source, folder)
    planned = plan_tensors(config, source, lambda name: name, str(folder))
    _unused(source, {p.name for p in planned}, str(folder))
    sp_model = release.find_tokenizer_model(folder, tokenizer_model)
    tokenizer = convert_sentencepiece(sp_model)
    details = {"n_future_tokens": config.n_future_tokens, "model_parallel_shards": len(shards), "tokenizer_model": str(sp_model)}
    files = [folder / release.PARAMS_NAME, *shards, sp_model]
    return ImportPlan("release", config, planned, tokenizer.to_str(), None, files, details)


def release_config_checked(params: dict[str, Any], source: TensorSource, folder: Path) -> ModelConfig:
    try:
        return release.release_config(params, source)
    except MtpError as e:
        raise MtpError(f"{folder / release.PARAMS_NAME}: {e.message}", e.hint) from None


# ---- the step -------------------------------------------------------------------------------------


def import_model(
    src: str | Path,
    out: str | Path,
    overwrite: bool = False,
    tokenizer_model: str | Path | None = None,
    progress: ProgressSink | None = None,
) -> dict[str, Any]:
    """Convert the model folder `src` into the mtp checkpoint folder `out`; return its manifest."""
    progress = progress or NullProgress()
    src, out = Path(src), Path(out)
    if not src.exists():
        raise MtpError(f"{src} does not exist", "mtp import takes a local model folder; it downloads nothing")
    kind = detect_format(src)
    if kind == "release":
        plan = plan_release(src, Path(tokenizer_model) if tokenizer_model else None)
    else:
        if tokenizer_model is not None:
            raise MtpError("--tokenizer is for release checkpoints", "a Hugging Face folder brings its own tokenizer.json")
        plan = plan_huggingface(src)

    with staged_folder(out, overwrite) as stage, sha256_in_background(plan.files) as hashes:
        spec = describe(Tokenizer.from_str(plan.tokenizer_json), "imported", plan.eos_token, plan.tokenizer_json)  # while hashing
        if spec.vocab_size > plan.config.vocab_size:
            raise MtpError(f"the tokenizer has {spec.vocab_size} tokens, the model's embedding {plan.config.vocab_size}", "the folder mixes two models")
        if plan.linked:
            for path in plan.linked:
                link_or_copy(path, stage / path.name)
            layout = {"weights": layout_entry(stage, [p.name for p in plan.linked])}
        else:
            progress.phase("converting", total=len(plan.tensors), unit="tensors")
            write_safetensors(stage / WEIGHTS_NAME, plan.tensors, on_tensor=lambda _: progress.advance(1))
            layout = {}
        progress.phase("hashing the sources", total=None)
        sources = hashes.result()
        atomic_write_text(stage / TOKENIZER_NAME, plan.tokenizer_json)
        tokenizer = tokenizer_summary(spec)
        write_tokenizer_config(stage, tokenizer, plan.config.max_seq_len)
        atomic_write_json(stage / CONFIG_NAME, {"model": plan.config.to_dict(), "tokenizer": tokenizer, "step": None, "imported_from": plan.format, **layout})
        sha256_of = {Path(entry["path"]): entry["sha256"] for entry in sources}
        linked_files = [{"path": p.name, "bytes": p.stat().st_size, "sha256": sha256_of[p]} for p in plan.linked]
        manifest = build_manifest(
            "checkpoint",
            arguments={"src": src, "out": out, "tokenizer": tokenizer_model},
            inputs=[{"kind": plan.format, "path": str(src.resolve()), "files": sources}],
            step=None,
            imported=plan.details,
            model=plan.config.to_dict(),
            parameters=sum(math.prod(p.info.shape) for p in plan.tensors),
            dtype=str(plan.tensors[0].info.dtype).removeprefix("torch."),
            tokenizer=tokenizer,
            **({"files": linked_files} if linked_files else {}),
        )
        write_manifest(stage, manifest)
    return manifest

