"""Every bad input: one line on stderr, exit code 2, no traceback, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtp_cli.artifacts import NullProgress
from mtp_cli.cli import main
from mtp_cli.tokenize import TokenizeConfig, tokenize_corpus


def run(args: list[str], capsys) -> tuple[int, str]:
    code = main(["tokenize", *map(str, args)])
    return code, capsys.readouterr().err


def assert_refused(args, capsys, *fragments: str) -> str:
    code, err = run(args, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    first = err.strip().splitlines()[0]
    assert first.startswith("error:")
    for fragment in fragments:
        assert fragment in err, err
    return err


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


@pytest.fixture
def code_dir(tmp_path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "a.py").write_text("print('a')\n")
    (folder / "b.py").write_text("def b():\n    return 2\n")
    return folder


def test_missing_source(tmp_path, capsys):
    assert_refused([tmp_path / "nope", "--out", tmp_path / "out"], capsys, "does not exist")
    assert not (tmp_path / "out").exists()


def test_no_matching_documents(tmp_path, capsys, code_dir):
    assert_refused([code_dir, "--out", tmp_path / "out", "--include", "*.rs", "--tokenizer", "bytes"], capsys, "no files", "*.rs")
    (tmp_path / "empty.py").write_text("")
    assert_refused([tmp_path / "empty.py", "--out", tmp_path / "out", "--tokenizer", "bytes"], capsys, "no documents", "1 empty")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_jsonl_line_not_json_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": "ok"}\nnot json\n')
    assert_refused([bad, "--out", tmp_path / "out", "--tokenizer", "bytes", "--workers", "2"], capsys, "bad.jsonl line 3", "not valid JSON")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_jsonl_line_without_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    assert_refused([bad, "--out", tmp_path / "out", "--tokenizer", "bytes"], capsys, "bad.jsonl line 2", "'text' or 'content'", "--text-field")
    assert_refused([bad, "--out", tmp_path / "out", "--tokenizer", "bytes", "--text-field", "code"], capsys, "line 1", "'code'")


def test_unreadable_file(tmp_path, capsys, code_dir):
    (code_dir / "gone.py").symlink_to(tmp_path / "missing-target.py")
    assert_refused([code_dir, "--out", tmp_path / "out", "--tokenizer", "bytes"], capsys, "cannot read", "gone.py")
    assert not (tmp_path / "out").exists()


def test_non_utf8_is_replaced_and_counted_skipped_or_refused(tmp_path, capsys, code_dir):
    (code_dir / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    manifest = tokenize_corpus(TokenizeConfig(out=tmp_path / "r", sources=[str(code_dir)], tokenizer="bytes", seq_len=8, workers=1))
    assert manifest["undecodable_bytes_replaced"] == 1 and manifest["documents_with_replacements"] == 1
    manifest = tokenize_corpus(
        TokenizeConfig(out=tmp_path / "s", sources=[str(code_dir)], tokenizer="bytes", seq_len=8, workers=1, on_decode_error="skip")
    )
    assert manifest["skipped"]["counts"] == {"not UTF-8": 1}
    assert sum(s["documents"] for s in manifest["splits"].values()) == 2
    assert_refused([code_dir, "--out", tmp_path / "f", "--tokenizer", "bytes", "--on-decode-error", "fail"], capsys, "latin1.py", "not valid UTF-8")
    assert not (tmp_path / "f").exists()


def test_binary_file_is_skipped_and_counted(tmp_path, code_dir):
    (code_dir / "blob.py").write_bytes(b"\x00\x01\x02binary")
    manifest = tokenize_corpus(TokenizeConfig(out=tmp_path / "o", sources=[str(code_dir)], tokenizer="bytes", seq_len=8, workers=1))
    assert manifest["skipped"]["counts"] == {"binary": 1}
    assert manifest["skipped"]["documents"][0]["document"] == "blob.py"


def test_existing_output_folder(tmp_path, capsys, code_dir):
    out = tmp_path / "out"
    args = [code_dir, "--out", out, "--tokenizer", "bytes", "--seq-len", "8"]
    assert run(args, capsys)[0] == 0
    first = json.loads((out / "manifest.json").read_text())
    assert_refused(args, capsys, "already holds an mtp artifact", "--overwrite")
    assert json.loads((out / "manifest.json").read_text()) == first
    assert run([*args, "--overwrite", "--seq-len", "16"], capsys)[0] == 0
    assert json.loads((out / "manifest.json").read_text())["seq_len"] == 16
    assert leftovers(tmp_path) == []


def test_never_deletes_a_foreign_folder(tmp_path, capsys, code_dir):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert_refused([code_dir, "--out", precious, "--tokenizer", "bytes", "--overwrite"], capsys, "not an mtp artifact")
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_invalid_tokenizer_file(tmp_path, capsys, code_dir):
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"not": "a tokenizer"}')
    assert_refused([code_dir, "--out", tmp_path / "out", "--tokenizer", bad], capsys, "not a valid tokenizer.json")
    assert_refused([code_dir, "--out", tmp_path / "out", "--tokenizer", tmp_path / "none.json"], capsys, "does not exist")


def test_tokenizer_without_eos(tmp_path, capsys, code_dir):
    from tokenizers import Tokenizer, models

    path = tmp_path / "noeos.json"
    Tokenizer(models.BPE()).save(str(path))
    assert_refused([code_dir, "--out", tmp_path / "out", "--tokenizer", path], capsys, "no end-of-text token", "--eos-token")


def test_tokenizer_file_is_copied_byte_for_byte(tmp_path, capsys, code_dir, tokenized_bpe):
    import hashlib

    pretty = tmp_path / "pretty-tokenizer.json"  # formatted unlike tokenizers' own output
    pretty.write_text(json.dumps(json.loads((tokenized_bpe / "tokenizer.json").read_text()), indent=4))
    out = tmp_path / "out"
    assert run([code_dir, "--out", out, "--tokenizer", pretty, "--seq-len", "8"], capsys)[0] == 0
    assert (out / "tokenizer.json").read_bytes() == pretty.read_bytes()
    tokenizer = json.loads((out / "manifest.json").read_text())["tokenizer"]
    assert tokenizer["kind"] == "file" and tokenizer["sha256"] == hashlib.sha256(pretty.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--vocab-size", "100"], "too small"),
        (["--seq-len", "0"], "--seq-len must be positive"),
        (["--seq-len", "-5"], "--seq-len must be positive"),
        (["--val-fraction", "1.5"], "--val-fraction"),
        (["--tokenizer", "bytes", "--vocab-size", "1000"], "applies only to --tokenizer bpe"),
        (["--on-decode-error", "ignore"], "--on-decode-error"),
        (["--workers", "-1"], "--workers"),
    ],
)
def test_bad_options(tmp_path, capsys, code_dir, extra, fragment):
    assert_refused([code_dir, "--out", tmp_path / "out", *extra], capsys, fragment)
    assert not (tmp_path / "out").exists()


class InterruptAfter(NullProgress):
    def __init__(self, calls: int):
        self.calls = calls

    def advance(self, amount: float, **counters: float) -> None:
        self.calls -= 1
        if self.calls <= 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_leaves_nothing_behind(tmp_path, corpus_dirs, workers):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        tokenize_corpus(TokenizeConfig(out=out, sources=corpus_dirs, tokenizer="bytes", workers=workers), InterruptAfter(2))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_ctrl_c_keeps_the_previous_artifact(tmp_path, code_dir):
    out = tmp_path / "out"
    tokenize_corpus(TokenizeConfig(out=out, sources=[str(code_dir)], tokenizer="bytes", seq_len=8, workers=1))
    before = (out / "manifest.json").read_text()
    with pytest.raises(KeyboardInterrupt):
        cfg = TokenizeConfig(out=out, sources=[str(code_dir)], tokenizer="bytes", workers=1, overwrite=True)
        tokenize_corpus(cfg, InterruptAfter(1))
    assert (out / "manifest.json").read_text() == before
    assert leftovers(tmp_path) == []
