"""`mtp import` against `AutoModelForCausalLM.from_pretrained` of the same folder, in one run.

A random model of Llama-3.2-1B's shape (1.24B parameters: dim 2048, 16 layers, 32 query and 8
key/value heads, SwiGLU 8192, vocabulary 128256, tied embeddings, llama3 rope scaling; bfloat16) is
built locally with `transformers` and saved with `save_pretrained`. Each side then runs in a fresh
process, so that its peak resident memory (ru_maxrss) is its own:

- mtp: `import_model(folder, out)`: hash every source file, keep the weight file (a hard link), write
  the config, tokenizer and manifest;
- transformers: `from_pretrained(folder)` (in transformers 5 the weights stay memory-mapped: it
  neither reads nor writes them all), and `from_pretrained` + `save_pretrained`, the conversion a
  user would otherwise write, which reads and writes every byte.

Also timed: `mtp export` of the imported checkpoint. Prints seconds and peak memory for each, the
ratios, and peak memory over the weights' size. Targets: import no slower than from_pretrained, and
its peak memory at most 1.2x the weights (no second full copy).

    python bench/interop.py [--layers 16] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LLAMA_32_1B = dict(
    vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_attention_heads=32, num_key_value_heads=8,
    max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True,
    rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    bos_token_id=128000, eos_token_id=128001,
)

# Each side in a child process; it prints {"seconds", "peak_bytes", "baseline_bytes"} as its last line.
CHILD = r"""
import json, sys, time
import torch

def status_bytes(field):  # VmHWM: this process's peak resident memory (ru_maxrss survives exec)
    line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
    return int(line.split()[1]) * 1024

baseline = status_bytes("VmRSS")
side, src, out = sys.argv[1:4]
started = time.perf_counter()
if side == "mtp-import":
    from mtp_cli.interop import import_model
    import_model(src, out)
elif side == "mtp-export":
    from mtp_cli.interop import export_model
    export_model(src, out)
else:
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(src, dtype="auto")
    assert next(model.parameters()).dtype == torch.bfloat16
    if side == "transformers-convert":  # what converting a folder with transformers costs
        model.save_pretrained(out)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_bytes": status_bytes("VmHWM"), "baseline_bytes": baseline}))
"""


def build_model(folder: Path, layers: int) -> int:
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = LlamaConfig(num_hidden_layers=layers, **LLAMA_32_1B)
    with torch.device("cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    vocab = {f"t{i}": i for i in range(128000)} | {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")), bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def run_side(side: str, src: Path, out: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, side, str(src), str(out)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--keep", type=Path, default=None, help="build the model here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="mtp-bench-interop-"))
    folder = root / "hf"
    try:
        if not (folder / "model.safetensors").is_file():
            print(f"building a random Llama-3.2-1B-shaped model ({args.layers} layers) in {folder} ...", flush=True)
            build_model(folder, args.layers)
        weights = (folder / "model.safetensors").stat().st_size
        for leftover in ("ckpt", "export", "resaved"):
            shutil.rmtree(root / leftover, ignore_errors=True)
        # Alternate the sides so that neither always reads a warm page cache.
        theirs_cold = run_side("transformers", folder, root / "-")
        ours = run_side("mtp-import", folder, root / "ckpt")
        theirs = run_side("transformers", folder, root / "-")
        export = run_side("mtp-export", root / "ckpt", root / "export")
        convert = run_side("transformers-convert", folder, root / "resaved")
        parameters = json.loads((root / "ckpt" / "manifest.json").read_text())["parameters"]
        print(f"\nmodel: {parameters / 1e9:.2f}B parameters, weights file {gb(weights)} (bfloat16)")
        print(f"{'side':<32}{'seconds':>9}{'peak RSS':>11}{'above import torch':>20}{'x weights':>11}")
        rows = [("transformers from_pretrained (1st)", theirs_cold), ("mtp import", ours), ("transformers from_pretrained (2nd)", theirs), ("mtp export", export), ("transformers load + save_pretrained", convert)]
        for name, r in rows:
            above = r["peak_bytes"] - r["baseline_bytes"]
            print(f"{name:<32}{r['seconds']:>9.2f}{gb(r['peak_bytes']):>11}{gb(above):>20}{r['peak_bytes'] / weights:>10.2f}x")
        best_theirs = min(theirs_cold["seconds"], theirs["seconds"])
        print(f"\nimport time / from_pretrained time (its faster run): {ours['seconds'] / best_theirs:.2f}  (target <= 1.0)")
        print(f"import time / (from_pretrained + save_pretrained) time: {ours['seconds'] / convert['seconds']:.2f}")
        print(f"import peak memory / weights: {ours['peak_bytes'] / weights:.2f}  (target <= 1.2)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
