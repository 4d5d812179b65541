"""`write_report` on real artifacts: every figure drawn and linked, skips said, the folder's manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from matplotlib.image import imread

from mtp_cli.artifacts import MtpError, read_manifest
from mtp_cli.report import ReportConfig, collect, write_report
from mtp_cli.report.figures import legend_labels, loss_figure
from mtp_cli.report.measures import accepted_histogram, speedups

FIGURES = ["loss_per_head.png", "accepted_per_forward.png", "speedup.png", "pass_at_k.png"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, _ = imread(path).shape
    assert height > 100 and width > 100


def test_a_pipeline_folder_gives_every_figure_linked_from_the_summary(work, tmp_path):
    result = write_report(ReportConfig(inputs=[work.root], out=tmp_path / "report"))
    out = tmp_path / "report"
    assert list(result.figures) == FIGURES and result.skipped == {}
    assert result.read == {"runs": 2, "samples": 2, "evals": 1}
    for name in FIGURES:
        check_png(out / name)
    summary = (out / "summary.md").read_text()
    for name in FIGURES:
        assert f"]({name})" in summary
    assert "Figures not drawn" not in summary
    assert "| n1 | 1 | completed |" in summary and "| n4 | 4 | completed |" in summary
    manifest = read_manifest(out, "report")
    assert manifest["files"] == FIGURES + ["summary.md", "manifest.json"]
    assert sorted(i["kind"] for i in manifest["inputs"]) == ["eval", "run", "run", "samples", "samples"]
    assert all(len(i.get("sha256") or i.get("manifest_sha256") or i["summary_sha256"]) == 64 for i in manifest["inputs"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder or temp file left


def test_runs_with_different_n_share_one_loss_figure(work):
    collected = collect([work.run_n1, work.run_n4])
    fig = loss_figure(collected.runs)
    labels = legend_labels(fig)
    assert labels[:2] == ["n1 (n=1)", "n4 (n=4)"]
    assert labels[2:] == ["head 1 (next token)", "head 2 (token t+2)", "head 3 (token t+3)", "head 4 (token t+4)"]
    train_ax, validation_ax = fig.axes
    assert len(train_ax.get_lines()) == 1 + 4 and len(validation_ax.get_lines()) == 1 + 4


def test_absent_data_skips_figures_and_the_summary_says_which(work, tmp_path):
    result = write_report(ReportConfig(inputs=[work.run_n4, work.greedy], out=tmp_path / "report"))
    assert list(result.figures) == ["loss_per_head.png"]
    assert set(result.skipped) == {"accepted_per_forward.png", "speedup.png", "pass_at_k.png"}
    summary = (tmp_path / "report" / "summary.md").read_text()
    section = summary.split("## Figures not drawn", 1)[1]
    for name in result.skipped:
        assert f"`{name}`" in section and not (tmp_path / "report" / name).exists()


def test_tokens_per_forward_histogram_adds_up_to_the_generate_totals(work):
    (spec,) = [s for s in collect([work.speculative]).samples]
    counts = accepted_histogram(spec)
    totals = spec.manifest["totals"]
    assert len(counts) == spec.manifest["draft_heads"] + 1 == 4
    assert sum(counts) == totals["verify_steps"]
    assert sum(m * c for m, c in enumerate(counts)) == totals["accepted_draft_tokens"]


def test_greedy_and_speculative_samples_of_one_checkpoint_pair_up(work):
    collected = collect([work.greedy, work.speculative, work.evaluation])
    (pair,) = speedups(collected.samples)
    assert (pair.baseline.path, pair.speculative.path) == (work.greedy, work.speculative)
    speed = {path: json.loads(path.with_name(path.name + ".manifest.json").read_text())["totals"]["tokens_per_second"]
             for path in (work.greedy, work.speculative)}
    assert pair.ratio == pytest.approx(speed[work.speculative] / speed[work.greedy], rel=1e-12)
    assert speed[work.speculative] != speed[work.greedy]  # so an inverted ratio would show
    (evaluation,) = collected.evals
    assert evaluation.samples is not None and evaluation.samples.path == work.greedy  # matched by sha256


def test_a_samples_folder_is_read_like_a_samples_file(work, tmp_path):
    folder = tmp_path / "samples-folder"
    folder.mkdir()
    shutil.copy(work.speculative, folder / "samples.jsonl")
    shutil.copy(work.speculative.with_name(work.speculative.name + ".manifest.json"), folder / "manifest.json")
    (samples,) = collect([folder]).samples
    assert samples.mode == "speculative" and samples.label == "samples-folder"


def test_a_report_replaces_an_earlier_report_but_no_other_artifact(work, tmp_path):
    out = tmp_path / "report"
    write_report(ReportConfig(inputs=[work.evaluation], out=out))
    assert (out / "pass_at_k.png").exists()
    write_report(ReportConfig(inputs=[work.greedy], out=out))
    assert [i["kind"] for i in read_manifest(out, "report")["inputs"]] == ["samples"]
    assert not (out / "pass_at_k.png").exists()  # the folder was replaced, not added to
    with pytest.raises(MtpError, match="holds a 'run' artifact"):
        write_report(ReportConfig(inputs=[work.greedy], out=work.run_n1))
    assert json.loads((work.run_n1 / "manifest.json").read_text())["kind"] == "run"
