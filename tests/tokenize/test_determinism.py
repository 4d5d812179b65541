"""The same inputs and arguments give byte-identical shards, whatever --workers is."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus
from mtp_cli.tokenize.sources import resolve_sources, stdlib_root


def content_hashes(folder: Path) -> dict[str, str]:
    """Every file except the manifest (which records the time and the worker count)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def test_identical_across_runs_and_worker_counts(tmp_path, corpus_dirs):
    results = []
    for run, workers in enumerate([1, 2, 2]):
        out = tmp_path / f"run{run}"
        cfg = TokenizeConfig(out=out, sources=corpus_dirs, tokenizer="bpe", vocab_size=400, seq_len=64, workers=workers,
                             val_fraction=0.1, shard_tokens=64 * 500)
        manifest = tokenize_corpus(cfg)
        results.append((content_hashes(out), manifest["splits"]))
    assert len(results[0][0]) > 8  # tokenizer, files list, several shards and their metadata
    assert results[0] == results[1] == results[2]


def test_seed_changes_the_split_only(tmp_path, corpus_dirs):
    def split_docs(seed):
        m = tokenize_corpus(TokenizeConfig(out=tmp_path / f"s{seed}", sources=corpus_dirs, tokenizer="bytes", workers=1,
                                           val_fraction=0.2, seed=seed))
        return m["splits"]["validation"]["documents"], m["splits"]["train"]["documents"] + m["splits"]["validation"]["documents"]

    (val0, total0), (val1, total1) = split_docs(0), split_docs(1)
    assert total0 == total1 and val0 > 0 and val1 > 0
    assert (tmp_path / "s0/validation").exists()
    assert content_hashes(tmp_path / "s0") != content_hashes(tmp_path / "s1")


def test_default_corpus_is_this_pythons_standard_library():
    (source,) = resolve_sources([], ("*.py",))
    assert source.kind == "stdlib" and source.root == stdlib_root()
    keys = {source.key_of(p) for p in source.files}
    assert "json/__init__.py" in keys and "os.py" in keys and len(keys) > 500
    assert not any("site-packages" in k for k in keys)


def two_files(tmp_path, b_text: str) -> tuple:
    """A corpus of a.py and b.py, and a bytes config for it (not tokenized yet)."""
    corpus = tmp_path / "code"
    corpus.mkdir()
    (corpus / "a.py").write_text("a = 1\n")
    (corpus / "b.py").write_text(b_text)
    return corpus, TokenizeConfig(out=tmp_path / "out", sources=[str(corpus)], tokenizer="bytes", seq_len=8, workers=1)


def test_is_current_tracks_arguments_and_inputs(tmp_path):
    from dataclasses import replace

    from mtp_cli.tokenize import is_current

    corpus, cfg = two_files(tmp_path, "b = 2\n")
    assert not is_current(cfg)
    tokenize_corpus(cfg)
    assert is_current(cfg)
    assert is_current(replace(cfg, workers=2, overwrite=True))  # how, not what
    assert not is_current(replace(cfg, seq_len=16))
    (corpus / "b.py").write_text("b = 3\n")
    assert not is_current(cfg)


class PhaseLog:
    def __init__(self) -> None:
        self.phases: list[str] = []
        self.done = 0.0

    def phase(self, name, total, unit=""):
        self.phases.append(name)

    def advance(self, amount, **counters):
        self.done += amount


def test_is_current_compares_sizes_and_mtimes_before_hashing(tmp_path):
    import os

    from mtp_cli.tokenize import is_current

    corpus, cfg = two_files(tmp_path, "bb = 2\n")
    tokenize_corpus(cfg)
    unchanged = PhaseLog()
    assert is_current(cfg, unchanged) and unchanged.phases == []  # nothing re-hashed
    stat = (corpus / "a.py").stat()
    os.utime(corpus / "a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same content
    touched = PhaseLog()
    assert is_current(cfg, touched) and touched.phases == ["hashing the corpus"] and touched.done == 13
    (corpus / "a.py").write_text("a = 9\n")  # same size, new content and mtime
    assert not is_current(cfg, PhaseLog())
