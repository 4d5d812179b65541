"""A tiny checkpoint for the generate tests, trained in seconds with a minimal loop.

The contracts under test (speculative greedy == greedy, exact speculative sampling) hold for any
weights. Training on a corpus of a few memorizable code lines makes the extra heads agree with head 1
inside a line and disagree across lines, so multi-token acceptances, rejections, per-row rollbacks
of different lengths and early stops are all exercised.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from mtp_cli.artifacts import build_manifest, write_manifest
from mtp_cli.model import MtpTransformer, build_config, write_model_files

LINES = [
    "    def __init__(self, name, value):\n",
    "        self.name = name\n",
    "        return self.value\n",
    "    for item in items:\n",
    "        if item is None:\n",
    "            continue\n",
    "import os\n",
    "result = []\n",
    "    raise ValueError(message)\n",
    "class Parser:\n",
]


def synthetic_corpus(seed: int = 0, lines: int = 4000) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(LINES) for _ in range(lines))


def train_tiny(
    tokenized: Path, out: Path, heads: int = 4, steps: int = 150, seq_len: int = 64, seed: int = 0, head_type: str = "transformer"
) -> Path:
    """Train a small `heads`-head model with the tokenizer of a tokenized folder; write a checkpoint at `out`."""
    torch.manual_seed(seed)
    tokenizer_json = (tokenized / "tokenizer.json").read_text()
    manifest_tokenizer = __import__("json").loads((tokenized / "manifest.json").read_text())["tokenizer"]
    ids = Tokenizer.from_str(tokenizer_json).encode(synthetic_corpus(seed)).ids
    rows = torch.tensor(ids[: len(ids) // seq_len * seq_len]).view(-1, seq_len)
    config = build_config(
        "tiny",
        {"vocab_size": manifest_tokenizer["vocab_size"], "dim": 64, "n_heads": 2, "n_layers": 2 + heads,
         "n_future_tokens": heads, "multiple_of": 64, "max_seq_len": 2048, "head_type": head_type},
    )
    model = MtpTransformer(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = rows[torch.randint(0, len(rows), (16,), generator=generator)]
        logits = model(batch).logits  # (16, seq, heads, vocab)
        loss = sum(F.cross_entropy(logits[:, : -(i + 1), i].flatten(0, 1), batch[:, i + 1 :].flatten()) for i in range(heads))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out.mkdir(parents=True)
    write_model_files(out, model.eval(), tokenizer_json, manifest_tokenizer, step=steps)
    write_manifest(out, build_manifest("checkpoint", {"steps": steps}, [{"kind": "tokenized", "path": str(tokenized)}], step=steps))
    return out
