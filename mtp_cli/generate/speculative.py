"""Self-speculative decoding: the extra heads draft, head 1 verifies, in one forward per step.

Each step feeds every row a block `[t, d1 .. dK]`: t is a token already decided (head 1's), d1..dK
the drafts of heads 2..K+1 made at the position before t. Head 1's outputs on the block verify the
drafts; a row keeps t, its longest accepted prefix of drafts (a tokens) and one more token decided
by head 1 at the last accepted position, which starts the next block. The cache is rolled back past
the rejected drafts, row by row, and the heads at the last accepted position draft the next block.

Greedy: a draft is accepted when it equals head 1's argmax in the verifying forward, so every token
emitted is head 1's argmax there. The contract, with its tolerance: measured in one uncached forward of
the whole sequence (`forward.sequence_logits`), each emitted token's head-1 logit lies at most
`ARGMAX_TOLERANCE` below the largest (float32: 1e-4); plain greedy keeps the same bound. So the two
outputs are equal up to the first position where head 1's two best logits lie within the tolerance
of each other (a near-tie), and may differ after it: plain greedy's forwards have 1 row per
sequence, these K+1, and the two sum their products in different orders (in exact arithmetic they
are equal).

Sampling (temperature > 0): draft d_j is drawn from q = head j+1's distribution and accepted with
probability min(1, p(d_j) / q(d_j)), p being head 1's; at the first rejection the next token is
drawn from the normalized max(0, p - q), so every token follows plain sampling's distribution.
Drafts are drawn independently of each other and of the accept decisions, which keeps this exact
even though q does not see the drafts before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtp_cli.generate.forward import at_positions, cached_forward, decode_logits
from mtp_cli.generate.rows import RowResult, RowTracker, prefill
from mtp_cli.generate.sampling import RowRandom, SamplingParams, argmax_tokens, draw, probabilities
from mtp_cli.generate.stopping import StopChecker
from mtp_cli.model import MtpTransformer

# How far below head 1's largest logit a token greedy decoding emits may lie, by the dtype the forward
# computes in (bf16: under autocast), when that largest logit is taken from another forward of the same
# tokens (one sequence, uncached). Plain greedy's 1-row and speculative decoding's K+1-row forwards sum
# their products in different orders; these are the bounds the contract states, far above the largest
# shortfall measured (float32: none, bf16: 1.1e-3; BENCHMARKS.md, "Greedy and speculative greedy").
ARGMAX_TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4, torch.bfloat16: 0.05}


@dataclass
class Draft:
    """What the next block verifies, per row."""

    first: torch.Tensor  # (batch,) the decided token t
    tokens: torch.Tensor  # (batch, K) drafts d1..dK
    probs: torch.Tensor | None  # (batch, K, vocab) their distributions q (sampling only)


class Drafter:
    """Turns head logits into decided tokens and drafts, greedy or sampled."""

    def __init__(self, params: SamplingParams, rng: RowRandom | None):
        self.params, self.rng = params, rng

    def draft(self, first: torch.Tensor, draft_logits: torch.Tensor, uniforms: torch.Tensor | None) -> Draft:
        if self.params.greedy:
            return Draft(first, argmax_tokens(draft_logits), None)
        q = probabilities(draft_logits, self.params)
        return Draft(first, draw(q, uniforms), q)

    def verify(self, draft: Draft, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Head 1's (batch, K+1, vocab) logits on the block -> (accepted drafts a, next decided token,
        the uniforms left for the next drafts)."""
        k = draft.tokens.shape[1]
        if self.params.greedy:
            predicted = argmax_tokens(logits)
            accepted = (predicted[:, :k] == draft.tokens).long().cumprod(1).sum(1)
            return accepted, predicted.gather(1, accepted[:, None]).squeeze(1), None
        u = self.rng.uniforms(2 * k + 1)
        p = probabilities(logits, self.params)
        p_draft = p[:, :k].gather(-1, draft.tokens[..., None]).squeeze(-1)
        q_draft = draft.probs.gather(-1, draft.tokens[..., None]).squeeze(-1)
        accepted = (u[:, :k] * q_draft < p_draft).long().cumprod(1).sum(1)
        # After the last accepted draft: the residual max(0, p - q) at the rejection, or p itself
        # (q = 0) when every draft was accepted.
        p_next = p.gather(1, accepted.view(-1, 1, 1).expand(-1, 1, p.shape[-1])).squeeze(1)
        q_index = accepted.clamp(max=k - 1).view(-1, 1, 1).expand(-1, 1, p.shape[-1])
        q_next = draft.probs.gather(1, q_index).squeeze(1) * (accepted < k)[:, None]  # 0 past the last draft
        residual = (p_next - q_next).clamp_(min=0)
        residual = torch.where(residual.sum(-1, keepdim=True) > 0, residual, p_next)  # p == q up to rounding
        return accepted, draw(residual, u[:, k]), u[:, k + 1 :]


class DraftingHeads:
    """Heads 2..K+1's hidden states where they draft from. Block heads run on every position in the
    forward, since their KV caches must stay complete; linear heads keep no cache, so they run only
    on the rows that draft, as one product with their weights stacked. Chained heads draft by the
    same rule: every head the verifying head reads runs in the same forward (anticausal head 1 reads
    them all), so head 1's output at each position is the one plain greedy decoding computes."""

    def __init__(self, model: MtpTransformer, k: int):
        self.k = k
        self.linear = model.config.head_type == "linear"
        self.weight = torch.cat([model.head_module(i).weight for i in range(1, k + 1)]) if self.linear else None

    @property
    def cached_heads(self) -> int:
        """How many heads the forward must run (and the KV cache serve)."""
        return 1 if self.linear else self.k + 1

    def source(self, trunk: torch.Tensor, heads: list[torch.Tensor]) -> torch.Tensor:
        """What `at` reads: (batch, seq, dim) trunk output (linear heads) or (batch, seq, K, dim) heads."""
        return trunk if self.linear else torch.stack(heads[1 : self.k + 1], dim=-2)

    def at(self, source: torch.Tensor, position: int | torch.Tensor) -> torch.Tensor:
        """(batch, K, dim) hidden states of the drafting heads at one position (int) or one per row."""
        picked = source[:, position] if isinstance(position, int) else at_positions(source, position)
        if not self.linear:
            return picked
        return (picked @ self.weight.t()).unflatten(-1, (self.k, -1))


@torch.inference_mode()
def decode_speculative(
    model: MtpTransformer,
    prompts: list[list[int]],
    checker: StopChecker,
    params: SamplingParams,
    draft_heads: int,
    seeds: list[int] | None = None,
) -> list[RowResult]:
    k = draft_heads
    rows = RowTracker(checker, draft_heads=k)
    rng = None if params.greedy else RowRandom(seeds, model.tok_embeddings.weight.device)
    drafter = Drafter(params, rng)
    heads = DraftingHeads(model, k)

    # A row may overshoot its limit by k tokens in its last step, and still feeds blocks afterwards.
    room = max(checker.limits) + 2 * (k + 1)
    cache, last, trunk = prefill(model, prompts, heads=heads.cached_heads, room=room)
    source = heads.source(trunk[:, None], [h[:, None] for h in last])
    logits = decode_logits(model, torch.cat([last[0][:, None], heads.at(source, 0)], dim=1))  # (batch, K+1, vocab)
    u = None if params.greedy else rng.uniforms(k + 1)
    first = argmax_tokens(logits[:, 0]) if params.greedy else draw(probabilities(logits[:, 0], params), u[:, 0])
    draft = drafter.draft(first, logits[:, 1:], None if u is None else u[:, 1:])
    done = rows.take([[t] for t in first.tolist()])

    optimistic = False  # did every row accept its whole draft last step?
    while not done:
        block = torch.cat([draft.first[:, None], draft.tokens], dim=1)
        trunk, hidden = cached_forward(model, block, cache)
        source = heads.source(trunk, hidden)
        # Head 1 is unembedded at every position of the block, the drafting heads only at each row's last
        # accepted position: (K+1) + K rows per sequence rather than (K+1)^2, in two matrix products
        # because that position is known only after verifying. After a step that accepted every draft,
        # the drafting heads at the block's end join head 1's product, on the bet that this step does
        # too: a CPU reads the unembedding once instead of twice, and a lost bet costs K more rows.
        rows_in = torch.cat([hidden[0], heads.at(source, k)], dim=1) if optimistic else hidden[0]
        logits = decode_logits(model, rows_in)
        accepted, following, u = drafter.verify(draft, logits[:, : k + 1])
        active = rows.active_mask(block.device)
        won = optimistic and bool(((accepted == k) | (active == 0)).all())
        draft_logits = logits[:, k + 1 :] if won else decode_logits(model, heads.at(source, accepted))
        draft = drafter.draft(following, draft_logits, u)
        # Keep t and the accepted drafts; a row that has ended keeps nothing, so its cache stays bounded.
        cache.rewind(k + 1 - (accepted + 1) * active)

        host = torch.cat([block[:, 1:], following[:, None], accepted[:, None]], dim=1).tolist()  # one sync a step
        optimistic = all(row[-1] == k for row, active in zip(host, rows.active) if active)
        done = rows.take([row[: row[-1]] + [row[k]] for row in host], [row[-1] for row in host])
    return rows.results()
