"""The split layout that `datasets.load_from_disk` reads, written with only numpy, pyarrow and the
installed `datasets`. `.ci/run` runs this file again at the oldest `datasets` pyproject.toml allows."""

from __future__ import annotations

import numpy as np

from mtp_cli.tokenize.shards import SplitWriter, write_dataset_dict


def test_splits_load_as_a_dataset_dict(tmp_path):
    import datasets

    for split, documents in (("train", [np.arange(10), np.arange(5)]), ("validation", [np.arange(3)])):
        writer = SplitWriter(tmp_path / split, 4, np.dtype("uint16"), eos_id=1, pad_id=2, shard_tokens=8)
        for ids in documents:
            writer.add(ids.astype("uint16"), len(ids))
        writer.close()
    write_dataset_dict(tmp_path, ["train", "validation"])
    loaded = datasets.load_from_disk(str(tmp_path))
    assert isinstance(loaded, datasets.DatasetDict) and set(loaded) == {"train", "validation"}
    stream = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1, 2, 3, 4, 1]
    assert sum(loaded["train"]["input_ids"], []) == stream + [2, 2, 2]  # the last row padded
    assert loaded["validation"][0]["input_ids"] == [0, 1, 2, 1]
    assert loaded["train"].features["input_ids"].length == 4
