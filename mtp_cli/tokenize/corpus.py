"""`tokenize_corpus`: a corpus in, `train/` and `validation/` Arrow shards plus a manifest out."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from mtp_cli.artifacts import (
    MtpError,
    default_workers,
    NullProgress,
    ProgressSink,
    build_manifest,
    check_output_folder,
    jsonable,
    read_manifest,
    sha256_bytes,
    sha256_file,
    staged_folder,
    write_manifest,
)
from mtp_cli.artifacts.disk_space import disk_full_as_error
from mtp_cli.artifacts.hf_tokenizer import write_tokenizer_config
from mtp_cli.tokenize import vocab
from mtp_cli.tokenize.config import DECODE_POLICIES, TokenizeConfig
from mtp_cli.tokenize.fields import FieldReport
from mtp_cli.tokenize.shards import COLUMN, SplitWriter, write_dataset_dict
from mtp_cli.tokenize.sources import (
    Source,
    iter_units,
    resolve_sources,
)
from mtp_cli.tokenize.workers import ReadSettings, process_units

SPLITS = ("train", "validation")
DEFAULT_TEXT_FIELD = "text"


def validate_config(cfg: TokenizeConfig) -> None:
    if cfg.seq_len <= 0:
        raise MtpError(f"--seq-len must be positive, got {cfg.seq_len}", "for example --seq-len 2048")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise MtpError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}", "for example 0.005")
    if cfg.workers < 0:
        raise MtpError(f"--workers must be 0 (all cores) or more, got {cfg.workers}")
    if cfg.on_decode_error not in DECODE_POLICIES:
        raise MtpError(f"--on-decode-error must be one of {', '.join(DECODE_POLICIES)}")
    if cfg.shard_tokens < cfg.seq_len:
        raise MtpError(f"--shard-tokens ({cfg.shard_tokens}) must hold at least one row of {cfg.seq_len}")
    if cfg.vocab_size is not None:
        if cfg.tokenizer != "bpe":
            raise MtpError(f"--vocab-size applies only to --tokenizer bpe, not {cfg.tokenizer}", "drop --vocab-size")
        if cfg.vocab_size < vocab.MIN_BPE_VOCAB:
            raise MtpError(
                f"--vocab-size {cfg.vocab_size} is too small",
                f"a byte-level BPE needs at least {vocab.MIN_BPE_VOCAB} (256 bytes + EOS + PAD)",
            )


def choose_split(cfg: TokenizeConfig, sources: list[Source]) -> str:
    """How documents go to validation: "sources" (--validation), "document" (a hash of each
    document's key), or "position" (the last --val-fraction of every document's tokens, as nanoGPT
    splits its one text) when the corpus is plain files of which the hash would pick none, e.g.
    one .txt file. Record sources (JSONL, parquet, datasets) are split by document; an empty split
    is warned about."""
    if cfg.validation:
        return "sources"
    if cfg.val_fraction == 0 or any(s.kind not in ("files", "stdlib") for s in sources):
        return "document"
    keys = (s.key_of(path) for s in sources for path in s.files)
    return "document" if any(is_validation(key, cfg.seed, cfg.val_fraction) for key in keys) else "position"


def empty_split_warnings(stats: dict, cfg: TokenizeConfig, split_by: str) -> list[str]:
    warnings = []
    if stats["train"].tokens == 0:
        warnings.append("the train split is empty: `mtp train` will refuse this folder")
    if stats["validation"].tokens == 0:
        why = "--val-fraction is 0" if cfg.val_fraction == 0 and split_by != "sources" else f"no document went to it, split by {split_by}"
        warnings.append(f"the validation split is empty ({why}): training will show no validation loss; "
                        "raise --val-fraction or pass --validation SOURCES")
    return warnings


def is_validation(key: str, seed: int, fraction: float) -> bool:
    """A document's split: a hash of its key, so it does not depend on order or worker count."""
    digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2.0**64


def _read_settings(cfg: TokenizeConfig) -> ReadSettings:
    explicit = cfg.text_field is not None
    return ReadSettings(cfg.on_decode_error, cfg.text_field or DEFAULT_TEXT_FIELD, explicit)


def _training_texts(cfg: TokenizeConfig, sources: list[Source], workers: int, progress: ProgressSink) -> Iterator[str]:
    """The train split's texts (validation sources are not passed in; a position split trains on whole documents)."""
    settings = _read_settings(cfg)
    by_document = choose_split(cfg, sources) == "document"
    progress.phase("reading corpus to train BPE", sum(s.bytes for s in sources), "B")
    for result in process_units(iter_units(sources, settings.text_field, settings.explicit_field), settings, None, workers):
        for doc in result.docs.docs:
            if doc.text is not None and not (by_document and is_validation(doc.key, cfg.seed, cfg.val_fraction)):
                yield doc.text
        progress.advance(result.progress)
    progress.phase("training BPE merges", None)  # tokenizers computes them once every text is read


def resolve_tokenizer(cfg: TokenizeConfig, sources: list[Source], workers: int, progress: ProgressSink) -> tuple[vocab.TokenizerSpec, str]:
    """The tokenizer spec and a line saying where it came from."""
    if cfg.tokenizer == "bytes":
        return vocab.describe(vocab.bytes_tokenizer(), "bytes"), "raw UTF-8 bytes"
    if cfg.tokenizer == "bpe" and cfg.vocab_size is None:
        path = vocab.shipped_tokenizer_path()
        if path.is_file():
            spec = vocab.load_spec_from_json(path.read_text(), "bpe")
            return spec, f"shipped {path.parent.name}"
    if cfg.tokenizer == "bpe":
        size = cfg.vocab_size or vocab.DEFAULT_VOCAB_SIZE
        tokenizer = vocab.train_bpe(_training_texts(cfg, sources, workers, progress), size)
        return vocab.describe(tokenizer, "bpe"), "byte-level BPE trained on this corpus's train split"
    spec = vocab.load_tokenizer_file(cfg.tokenizer, cfg.eos_token)
    return spec, f"file {cfg.tokenizer}"


def _record_file_hashes(source: Source) -> dict[str, str]:
    """Record-format sources (JSONL, parquet, Arrow) are hashed up front; plain files as workers read them."""
    if source.kind in ("files", "stdlib"):
        return {}
    return {source.key_of(path): sha256_file(path) for path in source.files}


def _source_entry(source: Source, file_hashes: list[tuple[str, str]]) -> dict:
    combined = sha256_bytes("".join(f"{key}\t{digest}\n" for key, digest in file_hashes).encode())
    return {
        "arg": source.arg,
        "kind": source.kind,
        "path": str(source.root.resolve()),
        "files": len(source.files),
        "bytes": source.bytes,
        "sha256": combined,
    }


# Arguments that change how the work is done, never what it produces (`out` is the folder being
# checked, wherever it was first written).
VOLATILE_ARGUMENTS = ("workers", "overwrite", "out")


def _stable_arguments(arguments: dict) -> dict:
    return {k: v for k, v in jsonable(arguments).items() if k not in VOLATILE_ARGUMENTS}


def _hash_sources(sources: list[Source], progress: ProgressSink) -> list[dict]:
    progress.phase("hashing the corpus", sum(s.bytes for s in sources), "B")
    entries = []
    for source in sources:
        hashes = {}
        for path in source.files:
            hashes[source.key_of(path)] = sha256_file(path)
            progress.advance(path.stat().st_size)
        entries.append(_source_entry(source, list(hashes.items())))
    return entries


def stat_fingerprint(sources: list[Source]) -> str:
    """One hash of every input file's name, size and modification time: what make compares."""
    lines = []
    for source in sources:
        for path in source.files:
            stat = path.stat()
            lines.append(f"{source.arg}\t{source.key_of(path)}\t{stat.st_size}\t{stat.st_mtime_ns}\n")
    return sha256_bytes("".join(lines).encode())


def _all_sources(cfg: TokenizeConfig) -> list[Source]:
    sources = resolve_sources(cfg.sources, tuple(cfg.include))
    return sources + (resolve_sources(cfg.validation, tuple(cfg.include)) if cfg.validation else [])


def is_current(cfg: TokenizeConfig, progress: ProgressSink | None = None) -> bool:
    """True when `cfg.out` already holds this corpus tokenized with these arguments. As make does, the
    inputs' sizes and modification times are compared first; only when they differ are the files
    re-hashed (a touched but unchanged file still counts as current)."""
    try:
        manifest = read_manifest(cfg.out, "tokenized")
    except MtpError:
        return False
    if _stable_arguments(manifest["arguments"]) != _stable_arguments(asdict(cfg)):
        return False
    try:
        sources = _all_sources(cfg)
        if manifest.get("inputs_stat_sha256") == stat_fingerprint(sources):
            return True
        return manifest["inputs"] == _hash_sources(sources, progress or NullProgress())
    except (MtpError, OSError):
        return False


def add_document(writers: dict[str, SplitWriter], split_by: str, from_validation_source: bool, key: str, ids, text_bytes: int,
                 cfg: TokenizeConfig) -> None:
    if split_by == "position":
        cut = len(ids) - int(len(ids) * cfg.val_fraction)
        train_bytes = text_bytes * cut // max(len(ids), 1)
        if cut:
            writers["train"].add(ids[:cut], train_bytes)
        if cut < len(ids):
            writers["validation"].add(ids[cut:], text_bytes - train_bytes)
        return
    if split_by == "sources":
        split = "validation" if from_validation_source else "train"
    else:
        split = "validation" if is_validation(key, cfg.seed, cfg.val_fraction) else "train"
    writers[split].add(ids, text_bytes)


def tokenize_corpus(cfg: TokenizeConfig, progress: ProgressSink | None = None) -> dict:
    """Tokenize and pack a corpus into `cfg.out`; return the manifest written there."""
    progress = progress or NullProgress()
    started = time.perf_counter()
    validate_config(cfg)
    check_output_folder(Path(cfg.out), cfg.overwrite)  # fail before any work
    sources = resolve_sources(cfg.sources, tuple(cfg.include))
    validation_sources = resolve_sources(cfg.validation, tuple(cfg.include)) if cfg.validation else []
    for source in sources + validation_sources:
        if not source.files:
            raise MtpError(
                f"no files under {source.arg} match --include {' '.join(cfg.include)}",
                "pass --include GLOB (for example --include '*.py')",
            )
    inputs_stat = stat_fingerprint(sources + validation_sources)  # before reading: a file edited meanwhile differs
    workers = cfg.workers or default_workers()
    spec, origin = resolve_tokenizer(cfg, sources, workers, progress)
    split_by = choose_split(cfg, sources)
    sources = sources + validation_sources  # source indices from len(sources) on are validation
    if spec.kind == "bytes":
        workers = 1  # encoding bytes is a copy: worker processes would cost more in transfer than they save
    settings = _read_settings(cfg)
    # At most one token per corpus byte, plus a line of files.jsonl per file: an upper bound.
    needed = sum(s.bytes for s in sources) * spec.dtype.itemsize + 256 * sum(len(s.files) for s in sources) + len(spec.json)
    hint = "free space on that filesystem, or choose another --out, then run the command again"
    with staged_folder(cfg.out, cfg.overwrite) as stage, disk_full_as_error(Path(cfg.out), needed, hint, "up to"):
        (stage / "tokenizer.json").write_text(spec.json)
        write_tokenizer_config(stage, vocab.tokenizer_summary(spec))
        write_dataset_dict(stage, list(SPLITS))
        pad_id = spec.pad_id if spec.pad_id is not None else spec.eos_id
        writers = {
            split: SplitWriter(stage / split, cfg.seq_len, spec.dtype, spec.eos_id, pad_id, cfg.shard_tokens, spec.bos_id)
            for split in SPLITS
        }
        hashes = [list(_record_file_hashes(s).items()) for s in sources]
        skipped: list[dict] = []
        replaced = Counter()
        fields = FieldReport([s.arg for s in sources], settings.explicit_field)
        progress.phase("tokenizing", sum(s.bytes for s in sources), "B")
        with open(stage / "files.jsonl", "w") as files_log:
            for result in process_units(iter_units(sources, settings.text_field, settings.explicit_field), settings, spec, workers):
                tokens = 0
                for file in result.docs.files:
                    hashes[result.docs.source].append((file["path"], file["sha256"]))
                    files_log.write(json.dumps({"source": result.docs.source, **file}) + "\n")
                for doc, ids in zip(result.docs.docs, result.ids):
                    fields.add(result.docs.source, doc.field, doc.text, doc.text_bytes)
                    if doc.skip:
                        skipped.append({"document": doc.key, "source": sources[result.docs.source].arg, "reason": doc.skip})
                        continue
                    add_document(writers, split_by, result.docs.source >= len(sources) - len(validation_sources),
                                 doc.key, ids, doc.text_bytes, cfg)
                    tokens += len(ids)
                    if doc.replaced:
                        replaced["bytes"] += doc.replaced
                        replaced["documents"] += 1
                progress.advance(result.progress, files=len(result.docs.files), tokens=tokens)
        stats = {split: writer.close() for split, writer in writers.items()}
        documents = sum(s.documents for s in stats.values())
        if documents == 0:
            reasons = Counter(s["reason"] for s in skipped)
            detail = f" ({', '.join(f'{n} {r}' for r, n in reasons.items())} skipped)" if reasons else ""
            raise MtpError(f"the corpus holds no documents to tokenize{detail}", "check SOURCES, --include and --text-field")
        manifest = build_manifest(
            "tokenized",
            arguments=asdict(cfg),
            inputs=[_source_entry(s, h) for s, h in zip(sources, hashes)],
            inputs_stat_sha256=inputs_stat,
            tokenizer={**vocab.tokenizer_summary(spec), "file": "tokenizer.json", "origin": origin},
            column=COLUMN,
            seq_len=cfg.seq_len,
            dtype=spec.dtype.name,
            tail=(
                "the last row of each split is padded with pad_id after its last_row_tokens real tokens; "
                "rows are in stream order, documents joined by EOS"
            ),
            pad_id_used=pad_id,
            splits={split: asdict(s) for split, s in stats.items()},
            split_by=split_by,
            text_fields=fields.summary(),
            warnings=fields.warnings() + empty_split_warnings(stats, cfg, split_by),
            skipped={"counts": dict(Counter(s["reason"] for s in skipped)), "documents": skipped},
            undecodable_bytes_replaced=replaced["bytes"],
            documents_with_replacements=replaced["documents"],
            files_list={"file": "files.jsonl", "sha256": sha256_file(stage / "files.jsonl")},
            workers_used=workers,
            elapsed_seconds=round(time.perf_counter() - started, 3),
        )
        write_manifest(stage, manifest)
    return manifest
