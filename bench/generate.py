"""Self-speculative decoding against plain greedy decoding, in one run, same checkpoint and prompts.

For each batch size: tokens/s of `--mode greedy` and of `--mode speculative`, their ratio, the mean
tokens decided per forward pass, and the efficiency (speed-up / tokens per forward: the share of the
accepted length that turns into wall-clock speed). Asserts the greedy contract: the two outputs are
token-for-token equal, or part only after a near-tie (`mtp_cli.generate.speculative`).
Target: efficiency >= 0.9 at batch 1 and 16. Prompts: the first N HumanEval problems. Greedy and
speculative alternate batch by batch, so a change in the machine's load hits both alike. With
`--temperature T` (and `--top-p`) plain sampling is timed against speculative sampling instead, one
seed per prompt: their tokens follow the same distribution but differ, so nothing is asserted.

    python bench/generate.py CKPT [--prompts 16] [--max-new-tokens 128] [--batch-sizes 1,16]
                             [--draft-heads K] [--threads 1] [--device cpu] [--temperature T --top-p P]

A checkpoint to run it on (the project's trainer, on this Python's standard library):

    mtp tokenize --out data/stdlib --seq-len 512
    mtp train data/stdlib --out runs/tiny4 --preset tiny --heads 4 --steps 2000
    python bench/generate.py runs/tiny4

Efficiency is about the cost of a greedy step over the cost of a speculative one, so a second table
splits one step of each into its pieces, timed in step order after the first prompts of the batch:
the model's forward over 1 new position (greedy, head 1 only) or K+1 (speculative, with every
drafting head that keeps a KV cache: block heads; linear heads run only on the rows that draft), then the unembedding + argmax of 1 row per sequence (greedy) or of
K+1 rows of head 1 (verification) with the K drafting rows at the block's end (they are the next
drafts when every draft passes), and, after a rejection, K drafting rows at the accepted position.
Where a forward's cost does not grow with its positions (a small model whose
time goes to per-operation overhead; GPUs until they are compute-bound) the two steps cost about the
same; where it does (CPU matrix products past a few rows), efficiency falls. Its last columns time
the two steps' matrix products alone, with the model's weights: whatever the loop around them, a
speculative step costs at least a greedy step plus their difference, so greedy step / (greedy step +
difference) is a ceiling on the efficiency that no decoding code on these kernels can pass.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table

from mtp_cli.generate import (
    SamplingParams,
    StopChecker,
    decode_plain,
    decode_speculative,
    encode_prompts,
    load_model,
    token_bytes,
)
from mtp_cli.generate.forward import (
    cached_forward,
    cached_hidden,
    decode_logits,
    greedy_shortfall,
    unembedding_matrix,
)
from mtp_cli.generate.prompts import from_dataset
from mtp_cli.generate.rows import prefill
from mtp_cli.generate.sampling import argmax_tokens
from mtp_cli.generate.speculative import ARGMAX_TOLERANCE, DraftingHeads
from mtp_cli.model import MtpTransformer


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Median milliseconds of named pieces, each timed where it runs inside a larger loop."""

    def __init__(self, device: torch.device):
        self.device, self.times = device, {}

    def __call__(self, name: str, fn: Callable[[], torch.Tensor | list[torch.Tensor]]):
        synchronize(self.device)
        started = time.perf_counter()
        result = fn()
        synchronize(self.device)
        self.times.setdefault(name, []).append(time.perf_counter() - started)
        return result

    def medians(self, warmup: int = 0) -> dict[str, float]:
        """Median ms of each piece, leaving out its first `warmup` timings."""
        return {name: statistics.median(t[warmup:]) * 1e3 for name, t in self.times.items()}


@torch.inference_mode()
def step_pieces(model: MtpTransformer, prompts: list[list[int]], k: int, repeats: int = 15) -> dict[str, float]:
    """Median ms of each piece of a greedy and of a speculative step for these rows, after their
    prompts, timed in step order (so, as in decoding, each piece finds the caches as the previous
    piece left them): the forward, then the unembedding + argmax of the rows each mode needs."""
    device = model.tok_embeddings.weight.device
    watch = Stopwatch(device)
    heads = DraftingHeads(model, k)
    greedy, *_ = prefill(model, prompts, heads=1, room=1)
    spec, *_ = prefill(model, prompts, heads=heads.cached_heads, room=k + 1)
    lengths = greedy.lengths.clone()
    token, block = (torch.zeros(len(prompts), n, dtype=torch.long, device=device) for n in (1, k + 1))
    first = torch.zeros(len(prompts), dtype=torch.long, device=device)  # a rejection at the block's start
    for _ in range(repeats + 1):
        greedy.truncate(lengths)
        hidden = watch("greedy forward", lambda: cached_hidden(model, token, greedy))
        watch("greedy unembed", lambda: argmax_tokens(decode_logits(model, hidden[0][:, -1])))
        spec.truncate(lengths)
        trunk, hidden = watch("speculative forward", lambda: cached_forward(model, block, spec))
        source = heads.source(trunk, hidden)
        # Head 1 at the K+1 positions and, on the bet that all drafts pass, the drafting heads at the end.
        watch("speculative verify",
              lambda: argmax_tokens(decode_logits(model, torch.cat([hidden[0], heads.at(source, k)], dim=1))))
        watch("speculative drafts", lambda: argmax_tokens(decode_logits(model, heads.at(source, first))))  # lost bet
    return watch.medians(warmup=1)


@torch.inference_mode()
def products_ms(model: MtpTransformer, batch: int, k: int, repeats: int = 15) -> tuple[float, float]:
    """Median ms of the matrix products alone of a greedy and of a speculative step for `batch` rows,
    with the model's own weights, alternating: every block's linear layers at 1 or K+1 positions per
    row (and the drafting heads: block heads at K+1 positions, linear heads at 1), then the
    unembedding of 1 or 2K+1 rows per row. Their difference bounds the efficiency from above for
    any decoding loop around these kernels: a speculative step costs at least a greedy step plus it."""
    device = model.tok_embeddings.weight.device
    heads = DraftingHeads(model, k)

    def matrices(modules: list[torch.nn.Module]) -> list[torch.Tensor]:
        """Every linear layer's weight in these modules, as the (in, out) matrix a product multiplies by."""
        return [m.weight.t() for module in modules for m in module.modules() if isinstance(m, torch.nn.Linear)]

    def inputs(rows: int, weights: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.randn(rows, w.shape[0], device=device, dtype=w.dtype), w) for w in weights]

    blocks = matrices([*model.trunk_blocks, model.head_module(0)])
    drafting = [heads.weight.t()] if heads.linear else matrices([model.head_module(i) for i in range(1, k + 1)])
    unembedding = [unembedding_matrix(model)]
    plans = {
        "greedy": inputs(batch, blocks) + inputs(batch, unembedding),
        "speculative": inputs(batch * (k + 1), blocks)
        + inputs(batch if heads.linear else batch * (k + 1), drafting)
        + inputs(batch * (2 * k + 1), unembedding),
    }
    watch = Stopwatch(device)
    for _ in range(repeats + 1):
        for name, plan in plans.items():
            watch(name, lambda: [x @ w for x, w in plan])
    medians = watch.medians(warmup=1)
    return medians["greedy"], medians["speculative"]


@torch.inference_mode()
def prefill_seconds(model: MtpTransformer, prompts: list[list[int]], heads: int) -> float:
    """What a decode spends before its first step: the prompts' forward and their last position's unembedding."""
    device = model.tok_embeddings.weight.device
    synchronize(device)
    started = time.perf_counter()
    _, last, _ = prefill(model, prompts, heads=heads, room=1)
    argmax_tokens(decode_logits(model, torch.stack(last, dim=1)))
    synchronize(device)
    return time.perf_counter() - started


def timed(fn, batch) -> tuple[list, float]:
    started = time.perf_counter()
    results = fn(batch)
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--draft-heads", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="above 0: plain sampling against speculative sampling (same distribution, not the same tokens)")
    parser.add_argument("--top-p", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    loaded = load_model(args.checkpoint, device)
    model = loaded.model
    k = args.draft_heads or model.n_future_tokens - 1
    ids = encode_prompts(loaded, from_dataset("humaneval").prompts[: args.prompts], model.config.max_seq_len)
    limit = [min(args.max_new_tokens, model.config.max_seq_len - len(p) - 1) for p in ids]
    table_bytes = token_bytes(loaded.tokenizer)
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p)

    def checker(batch):  # no stop sequences: every row decodes its whole budget, as in the method's table
        return StopChecker(table_bytes, (), -1, [limit[i] for i in batch])

    def seeds(batch):  # one seed per prompt, whatever batch it runs in
        return None if params.greedy else list(batch)

    def plain(batch):
        synchronize(device)
        results = decode_plain(model, [ids[i] for i in batch], checker(batch), params, seeds(batch))
        synchronize(device)
        return results

    def spec(batch):
        synchronize(device)
        results = decode_speculative(model, [ids[i] for i in batch], checker(batch), params, k, seeds(batch))
        synchronize(device)
        return results

    console = Console(width=200)
    c = model.config
    shape = f"dim {c.dim}, {c.trunk_layers} trunk blocks, {c.n_future_tokens} heads ({c.head_type}), vocab {c.vocab_size}"
    where = f"{args.device}, {args.threads} thread(s)"
    speed = Table(title=f"{args.checkpoint} ({shape}): {len(ids)} HumanEval prompts, {args.max_new_tokens} new "
                        f"tokens, {k} drafting heads, {where}")
    plain_name = "greedy" if params.greedy else "sampling"
    for column in ("batch", f"{plain_name} tok/s", "speculative tok/s", "speed-up", "tokens/forward", "efficiency",
                   "acceptance per head", f"prefill s: {plain_name} / spec", "without prefill: speed-up, efficiency"):
        speed.add_column(column, justify="right")
    pieces = Table(title=f"One step's pieces at the prompts' end, ms (median of 15; {where})")
    for column in ("batch", "greedy forward, 1 pos", "+ unembed 1 row", "= greedy", f"spec forward, {k + 1} pos",
                   f"+ verify and draft, {2 * k + 1} rows", "= speculative", "greedy / speculative",
                   f"a rejection: + drafts, {k} rows", "greedy / speculative",
                   "products alone: greedy / spec", "ceiling"):
        pieces.add_column(column, justify="right")

    plain([0]), spec([0])  # warm-up
    differing = 0
    for size in (int(s) for s in args.batch_sizes.split(",")):
        batches = [list(range(i, min(i + size, len(ids)))) for i in range(0, len(ids), size)]
        base, fast, t_base, t_fast, pre_base, pre_fast = [], [], 0.0, 0.0, 0.0, 0.0
        for batch in batches:
            results, seconds = timed(plain, batch)
            base, t_base = base + results, t_base + seconds
            results, seconds = timed(spec, batch)
            fast, t_fast = fast + results, t_fast + seconds
            pre_base += prefill_seconds(model, [ids[i] for i in batch], heads=1)
            pre_fast += prefill_seconds(model, [ids[i] for i in batch], heads=DraftingHeads(model, k).cached_heads)
        if params.greedy:  # outputs may part only after a near-tie: every token within the tolerance of the top
            differ = [i for i, (a, b) in enumerate(zip(base, fast)) if a.tokens != b.tokens]
            worst = max((greedy_shortfall(model, ids[i], r.tokens) for i in differ for r in (base[i], fast[i])), default=0.0)
            assert worst <= ARGMAX_TOLERANCE[torch.float32], f"speculative output differs from greedy beyond a near-tie ({worst})"
            differing += len(differ)
        tokens = sum(len(r.tokens) for r in fast)
        assert tokens == sum(len(r.tokens) for r in base)  # no stops, no EOS: every row decodes its whole budget
        per_forward = tokens / sum(r.forwards for r in fast)
        speedup = t_base / t_fast
        drafted = sum(r.drafted for r in fast)
        rates = " / ".join(f"{sum(r.accepted[j] for r in fast) / drafted:.2f}" for j in range(k))
        decoding = (t_base - pre_base) / (t_fast - pre_fast)
        speed.add_row(str(size), f"{tokens / t_base:,.1f}", f"{tokens / t_fast:,.1f}", f"{speedup:.2f}x",
                      f"{per_forward:.2f}", f"{speedup / per_forward:.0%}", rates,
                      f"{pre_base:.2f} / {pre_fast:.2f}", f"{decoding:.2f}x, {decoding / per_forward:.0%}")

        p = step_pieces(model, [ids[i] for i in batches[0]], k)
        g = p["greedy forward"] + p["greedy unembed"]
        s = p["speculative forward"] + p["speculative verify"]
        product_g, product_s = products_ms(model, len(batches[0]), k)
        pieces.add_row(str(size), f"{p['greedy forward']:.2f}", f"{p['greedy unembed']:.2f}", f"{g:.2f}",
                       f"{p['speculative forward']:.2f}", f"{p['speculative verify']:.2f}", f"{s:.2f}",
                       f"{g / s:.0%}", f"{p['speculative drafts']:.2f}", f"{g / (s + p['speculative drafts']):.0%}",
                       f"{product_g:.2f} / {product_s:.2f}", f"{g / (g + product_s - product_g):.0%}")
    console.print(speed)
    same = ("outputs identical: yes" if not differing else f"outputs identical: {differing} rows differ, each after a "
            f"near-tie (every token within {ARGMAX_TOLERANCE[torch.float32]:g} of head 1's top logit)") if params.greedy else (
        f"sampled at temperature {params.temperature}, top-p {params.top_p}: the same distribution, not the same tokens")
    console.print(f"{same}. Prefill: the prompts' forward, timed apart (the same work opens "
                  "every decode; 'without prefill' takes it out of both times).")
    console.print(pieces)


if __name__ == "__main__":
    main()
