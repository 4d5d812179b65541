"""One writer per folder: the lock refuses a second holder by name and pid, and leaves no trace."""

from __future__ import annotations

import os

import pytest

from mtp_cli.artifacts import LOCK_NAME, MtpError, acquire_folder_lock, check_output_folder


def test_a_second_holder_is_refused_with_the_first_ones_command_and_pid(tmp_path):
    folder = tmp_path / "run"
    with acquire_folder_lock(folder, "mtp train"):
        assert (folder / LOCK_NAME).is_file()
        with pytest.raises(MtpError) as refused:
            with acquire_folder_lock(folder, "mtp eval pass@k"):
                pass
        assert refused.value.message == f"{folder} is in use by mtp train (pid {os.getpid()}); wait for it or use another --out"
        check_output_folder(folder, overwrite=False)  # a folder holding only the lock counts as empty
    assert not folder.exists()  # created by the lock and left empty: removed again
    with acquire_folder_lock(folder, "mtp train"):  # released: free for the next writer
        (folder / "metrics.jsonl").write_text("")
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.jsonl"]  # the lock file goes with its holder
