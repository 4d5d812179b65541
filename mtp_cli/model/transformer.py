"""The multi-token prediction transformer: a shared trunk and n heads.

Module layout follows the method's released checkpoints (Llama names): `layers` holds the trunk
blocks followed by head 1's block, `extra_heads` holds heads 2..n, and one `norm` and one `output`
(the unembedding) serve every head. Parallel heads (the method's) each read the trunk's output;
causal and anticausal heads read each other's in a chain (`head_source`, App. B of the paper). An
optional `window_head` (a training objective only) reads the trunk too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mtp_cli.model.cache import CacheStep, KVCache
from mtp_cli.model.config import ModelConfig
from mtp_cli.model.layers import Block, RMSNorm, inverse_frequencies, rotary_angles

Rope = tuple[torch.Tensor, torch.Tensor]


@dataclass
class MtpOutput:
    logits: torch.Tensor | None  # (batch, positions, len(heads), vocab) in unembed's dtype; None: no head asked
    trunk: torch.Tensor  # (batch, seq, dim): the trunk's output for every input position


class WindowHead(nn.Module):
    """One block plus a per-token bias over the shared unembedding (see `MtpTransformer.window_logits`).

    The bias starts at the prior log-odds of a token occurring in a window, log(w / (V - w)): with
    logits near 0 instead, every one of the V sigmoids would start at 1/2 and the first steps'
    gradient through the shared unembedding would be about V/2 times the cross-entropy's."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.window_size, self.vocab_size = config.window_size, config.vocab_size
        self.block = Block(config)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def reset_bias(self) -> None:
        with torch.no_grad():
            self.bias.fill_(window_prior(self.window_size, self.vocab_size))


def window_prior(window_size: int, vocab_size: int) -> float:
    """log(w / (V - w)): the log-odds of one token among V occurring in a window of w uniform draws, roughly."""
    return math.log(window_size / (vocab_size - window_size)) if vocab_size > window_size else 0.0


class MtpTransformer(nn.Module):
    def __init__(self, config: ModelConfig, initialize: bool = True):
        """`initialize=False` skips the random initialization, for a model whose weights are loaded."""
        super().__init__()
        self.config = config
        self.tok_embeddings = self._new_embedding(initialize)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.trunk_layers + 1))
        self.extra_heads = nn.ModuleList(self._new_extra_head() for _ in range(config.n_future_tokens - 1))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.window_head = WindowHead(config) if config.window_size else None
        self.register_buffer("inv_freq", inverse_frequencies(config).to(torch.get_default_device()), persistent=False)
        if config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        if initialize:
            self.reset_parameters()

    def _new_embedding(self, initialize: bool) -> nn.Embedding:
        if initialize:
            return nn.Embedding(self.config.vocab_size, self.config.dim)
        # Given its weight, nn.Embedding skips its own normal init, which on the meta device imports
        # torch._dynamo (1.3 s of every checkpoint load).
        return nn.Embedding(self.config.vocab_size, self.config.dim, _weight=torch.empty(self.config.vocab_size, self.config.dim))

    def reset_buffers(self) -> None:
        """Recompute what is not a weight (the rotary frequencies), e.g. after `to_empty`."""
        self.inv_freq = inverse_frequencies(self.config).to(self.inv_freq.device)

    def _new_extra_head(self) -> nn.Module:
        if self.config.head_type == "linear":
            return nn.Linear(self.config.dim, self.config.dim, bias=False)
        return Block(self.config)

    def reset_parameters(self) -> None:
        # Residual output projections are scaled down so the residual stream's variance does not grow
        # with depth (GPT-2's scheme); linear heads start as the identity, i.e. as a probe of the trunk.
        residual_std = self.config.init_std / math.sqrt(2 * self.config.total_blocks)
        for name, param in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(param)
            elif param.dim() < 2:
                nn.init.ones_(param)
            elif name.startswith("extra_heads.") and not self.config.block_heads:
                nn.init.eye_(param)
            elif name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
                nn.init.normal_(param, std=residual_std)
            else:
                nn.init.normal_(param, std=self.config.init_std)
        if self.window_head is not None:
            self.window_head.reset_bias()

    # ---- structure -------------------------------------------------------------------------

    @property
    def n_future_tokens(self) -> int:
        return len(self.extra_heads) + 1

    @property
    def trunk_blocks(self) -> nn.ModuleList:
        return self.layers[:-1]

    def head_module(self, index: int) -> nn.Module:
        """Head `index` (0-based; it predicts the token index + 1 ahead)."""
        return self.layers[-1] if index == 0 else self.extra_heads[index - 1]

    def head_source(self, index: int) -> int | None:
        """The head whose output head `index` reads, or None for the trunk's output."""
        kind, last = self.config.head_type, self.n_future_tokens - 1
        if kind == "causal" and index > 0:
            return index - 1
        if kind == "anticausal" and index < last:
            return index + 1
        return None

    def chain_order(self) -> list[int]:
        """Every head, each after the head it reads."""
        order = list(range(self.n_future_tokens))
        return order[::-1] if self.config.head_type == "anticausal" else order

    def heads_needed(self, heads: list[int]) -> list[int]:
        """`heads` and every head they read, directly or not, in `chain_order`."""
        needed: set[int] = set()
        for index in heads:
            while index is not None and index not in needed:
                needed.add(index)
                index = self.head_source(index)
        return [i for i in self.chain_order() if i in needed]

    def trunk_parameters(self) -> list[nn.Parameter]:
        """Everything the heads share: embeddings, trunk blocks, final norm, unembedding."""
        shared = [self.tok_embeddings, *self.trunk_blocks, self.norm, self.output]
        return list(dict.fromkeys(p for module in shared for p in module.parameters()))

    def num_params(self, non_embedding: bool = False) -> int:
        total = sum(p.numel() for p in self.parameters())
        if non_embedding:
            total -= self.tok_embeddings.weight.numel()
            if not self.config.tie_embeddings:
                total -= self.output.weight.numel()
        return total

    # ---- pieces (training runs these separately, see mtp_cli.train.objective) ---------------

    def rope(self, seq_len: int, device: torch.device) -> Rope:
        positions = torch.arange(seq_len, device=device)[None]
        return rotary_angles(positions, self.inv_freq)

    def trunk(
        self,
        tokens: torch.Tensor,
        rope: Rope | None = None,
        cache: KVCache | None = None,
        step: CacheStep | None = None,
    ) -> torch.Tensor:
        """(batch, seq) token ids -> (batch, seq, dim) trunk output."""
        rope = rope if rope is not None else self.rope(tokens.shape[1], tokens.device)
        h = self.tok_embeddings(tokens)
        for i, block in enumerate(self.trunk_blocks):
            h = block(h, rope, cache.trunk[i] if cache else None, step)
        return h

    def head(
        self,
        index: int,
        h: torch.Tensor,
        rope: Rope | None = None,
        cache: KVCache | None = None,
        step: CacheStep | None = None,
    ) -> torch.Tensor:
        """Head `index`'s hidden state (before the shared norm and unembedding) from its input `h`: the
        trunk's output, or for chained heads the output of the head it reads (see `run_heads`)."""
        module = self.head_module(index)
        if isinstance(module, Block):
            rope = rope if rope is not None else self.rope(h.shape[1], h.device)
            return module(h, rope, cache.heads[index] if cache else None, step)
        return module(h)

    def run_heads(
        self,
        h: torch.Tensor,
        heads: list[int],
        rope: Rope | None = None,
        cache: KVCache | None = None,
        step: CacheStep | None = None,
    ) -> dict[int, torch.Tensor]:
        """{head index: hidden state} from the trunk output `h` for `heads` and every head they read."""
        hidden: dict[int, torch.Tensor] = {}
        for index in self.heads_needed(heads):
            source = self.head_source(index)
            hidden[index] = self.head(index, h if source is None else hidden[source], rope, cache, step)
        return hidden

    def window_logits(self, h: torch.Tensor, rope: Rope | None = None) -> torch.Tensor:
        """The window head's logits from the trunk output: token v's log-odds of occurring in the
        next `config.window_size` positions."""
        rope = rope if rope is not None else self.rope(h.shape[1], h.device)
        return self.unembed(self.window_head.block(h, rope)) + self.window_head.bias

    def unembed(self, hidden: torch.Tensor) -> torch.Tensor:
        """Shared final norm and unembedding. Logits come in the computation's dtype (bf16 under
        autocast): a vocabulary-wide float32 copy would double their memory, so whoever takes a
        softmax upcasts (the training loss chunk by chunk, decoding in `decode_logits`)."""
        return self.output(self.norm(hidden))

    # ---- inference --------------------------------------------------------------------------

    def new_cache(self, batch_size: int, max_len: int, heads: int | None = None) -> KVCache:
        """A KV cache for `batch_size` rows of up to `max_len` positions serving heads 0..heads-1 and
        the heads they read (so with anticausal heads, always every head)."""
        heads = self.n_future_tokens if heads is None else heads
        if not 1 <= heads <= self.n_future_tokens:
            raise ValueError(f"heads must be in 1..{self.n_future_tokens}, got {heads}")
        heads = max(self.heads_needed(list(range(heads)))) + 1  # anticausal: head 1 reads every head
        is_block = [isinstance(self.head_module(i), Block) for i in range(heads)]
        device = self.tok_embeddings.weight.device
        return KVCache(batch_size, max_len, len(self.trunk_blocks), is_block, device)

    def forward(
        self,
        tokens: torch.Tensor,
        cache: KVCache | None = None,
        heads: list[int] | None = None,
        last: int | None = None,
    ) -> MtpOutput:
        """Logits of `heads` (0-based indices, default all) for the last `last` positions (None: all).

        With a cache, the tokens continue each row at its cached length, and every head the cache
        serves runs its block on every new position (so its cache stays complete) even when its
        logits are not asked for; the cache's lengths advance by the number of tokens.
        """
        heads = self._heads_asked(cache, heads)
        h, hidden = self.hidden_states(tokens, cache, heads)
        if not heads:
            return MtpOutput(logits=None, trunk=h)
        window = slice(None) if last is None else slice(-last, None)
        logits = torch.stack([self.unembed(hidden[i][:, window]) for i in heads], dim=-2)
        return MtpOutput(logits=logits, trunk=h)

    def _heads_asked(self, cache: KVCache | None, heads: list[int] | None) -> list[int]:
        """`heads`, or by default every head (every head the cache serves, with a cache)."""
        return list(range(self.n_future_tokens if cache is None else cache.num_heads)) if heads is None else heads

    def hidden_states(
        self, tokens: torch.Tensor, cache: KVCache | None = None, heads: list[int] | None = None
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The trunk output and {head index: (batch, seq, dim) hidden state before `unembed`} for
        `heads` (default as in `forward`) and, with a cache, for every head it serves (so its caches
        stay complete). `forward` unembeds them; speculative decoding unembeds only what it needs."""
        heads = self._heads_asked(cache, heads)
        if cache is not None and any(i >= cache.num_heads for i in heads):
            raise ValueError(f"heads {heads} asked, the cache serves heads 0..{cache.num_heads - 1}")
        step = cache.begin(tokens.shape[1]) if cache is not None else None
        if step is None:
            rope = self.rope(tokens.shape[1], tokens.device)
        else:
            rope = rotary_angles(step.positions, self.inv_freq)

        h = self.trunk(tokens, rope, cache, step)
        run = sorted(set(heads) | set(range(cache.num_heads))) if cache is not None else heads
        hidden = self.run_heads(h, run, rope, cache, step)
        if cache is not None:
            cache.commit(tokens.shape[1])
        return h, hidden


TIED_NAME = "output.weight"  # a tied unembedding, stored once as tok_embeddings.weight


def stored_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor a checkpoint of `config` stores (built on the meta device)."""
    with torch.device("meta"):
        model = MtpTransformer(config, initialize=False)
    return {name: tuple(t.shape) for name, t in model.state_dict().items() if not (config.tie_embeddings and name == TIED_NAME)}
