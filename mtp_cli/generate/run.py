"""`generate_samples`: checkpoint and prompts in, a samples file and its manifest out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import SafetensorError
from tokenizers import Tokenizer

from mtp_cli.artifacts import MtpError, NullProgress, ProgressSink, build_manifest
from mtp_cli.generate.config import GenerateConfig
from mtp_cli.generate.decode import decode_plain
from mtp_cli.generate.output import GeneratedSample, check_output_file, totals, write_samples
from mtp_cli.generate.prompts import Prompt, load_prompt_set
from mtp_cli.generate.sampling import sample_seed
from mtp_cli.generate.speculative import decode_speculative
from mtp_cli.generate.stopping import StopChecker, cut_at_stop, token_bytes
from mtp_cli.model import MtpTransformer, load_checkpoint, read_checkpoint_config
from mtp_cli.model.checkpoint import weights_sha256
from mtp_cli.model.device import resolve_device
from mtp_cli.model.threads import set_threads


@dataclass
class LoadedModel:
    model: MtpTransformer
    tokenizer: Tokenizer
    eos_id: int
    start_id: int  # the token every prompt starts with: BOS for tokenizers that have one, else EOS
    identity: dict[str, Any]  # what the manifest records about the checkpoint


def load_model(checkpoint, device: torch.device) -> LoadedModel:
    folder, info = read_checkpoint_config(checkpoint)
    try:
        model, config, tokenizer_json = load_checkpoint(folder, device)
    except (OSError, KeyError, TypeError, ValueError, SafetensorError) as e:  # a manifest, but damaged files
        raise MtpError(f"{folder} is not a complete mtp checkpoint ({type(e).__name__}: {e})", "the checkpoint is damaged") from None
    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.encode_special_tokens = True  # "<|endoftext|>" in a prompt is text, as in training
    recorded = info.get("tokenizer", {})
    eos_id, bos_id = recorded.get("eos_id"), recorded.get("bos_id")
    if eos_id is None:
        from mtp_cli.tokenize.vocab import describe

        spec = describe(tokenizer, "file")
        eos_id, bos_id = spec.eos_id, spec.bos_id
    identity = {
        "kind": "checkpoint",
        "path": str(folder),
        "step": info.get("step"),
        "sha256": weights_sha256(folder),
        "n_future_tokens": config.n_future_tokens,
        "max_seq_len": config.max_seq_len,
        "tokenizer_sha256": info.get("tokenizer", {}).get("sha256"),
    }
    return LoadedModel(model, tokenizer, eos_id, eos_id if bos_id is None else bos_id, identity)


def encode_prompts(loaded: LoadedModel, prompts: list[Prompt], context: int) -> list[list[int]]:
    """Token ids of each prompt after the token that starts a document in training: BOS for a
    tokenizer that has one (Llama's <s>), else EOS (documents follow EOS in mtp's packed rows). A
    prompt must leave room for at least one new token."""
    encoded = loaded.tokenizer.encode_batch([p.text for p in prompts], add_special_tokens=False)
    ids = [[loaded.start_id, *e.ids] for e in encoded]
    for prompt, tokens in zip(prompts, ids):
        if len(tokens) >= context:
            raise MtpError(
                f"prompt {prompt.task_id!r} is {len(tokens)} tokens; the model's context is {context}",
                "shorten the prompt or use a model trained with a longer context",
            )
    return ids


def decode_continuation(tokenizer: Tokenizer, prompt: list[int], tokens: list[int]) -> str:
    """The text `tokens` add after `prompt`. Decoding them alone is wrong for SentencePiece-style
    tokenizers, whose decoder drops the leading space of a text ("▁return" alone decodes to "return")."""
    before = tokenizer.decode(prompt)
    whole = tokenizer.decode(prompt + tokens)
    return whole[len(before) :] if whole.startswith(before) else tokenizer.decode(tokens)


def generate_samples(config: GenerateConfig, progress: ProgressSink | None = None) -> dict[str, Any]:
    """Decode every prompt `num_samples` times; write the samples file and its manifest; return the manifest."""
    progress = progress or NullProgress()
    config.validate()
    check_output_file(config.out, config.overwrite)
    prompt_set = load_prompt_set(config.dataset, config.prompts, config.prompt, config.problems)
    prompts = prompt_set.prompts[: config.limit]
    stops = () if config.fixed_length else tuple(dict.fromkeys([*prompt_set.stops, *config.stop]))
    set_threads(config.threads)
    loaded = load_model(config.checkpoint, resolve_device(config.device))
    model = loaded.model
    speculative = config.mode == "speculative"
    draft_heads = config.check_draft_heads(model.n_future_tokens) if speculative else 0
    context = model.config.max_seq_len
    ids = encode_prompts(loaded, prompts, context)
    limits = [min(config.max_new_tokens, context - len(t)) for t in ids]
    table = token_bytes(loaded.tokenizer, model.config.vocab_size)
    params = config.sampling

    rows = [(p, s) for p in range(len(prompts)) for s in range(config.num_samples)]
    samples: list[GeneratedSample] = []
    progress.phase("generating", total=len(prompts), unit="prompts")
    started = time.perf_counter()
    for first in range(0, len(rows), config.batch_size):
        batch = rows[first : first + config.batch_size]
        checker = StopChecker(table, stops, None if config.fixed_length else loaded.eos_id, [limits[p] for p, _ in batch])
        seeds = [sample_seed(config.seed, p, str(prompts[p].task_id), s) for p, s in batch]
        batch_ids = [ids[p] for p, _ in batch]
        if speculative:
            results = decode_speculative(model, batch_ids, checker, params, draft_heads, seeds)
        else:
            results = decode_plain(model, batch_ids, checker, params, seeds)
        for (p, s), result in zip(batch, results):
            completion = cut_at_stop(decode_continuation(loaded.tokenizer, ids[p][1:], result.tokens), stops)
            samples.append(GeneratedSample(prompts[p].task_id, s, completion, result))
        progress.advance(len(batch) / config.num_samples, tokens=sum(len(r.tokens) for r in results))
    seconds = time.perf_counter() - started

    summary = totals(samples, len(prompts), seconds, draft_heads)
    manifest = build_manifest(
        "samples",
        arguments={k: v for k, v in vars(config).items()},
        inputs=[loaded.identity, {**prompt_set.source, "prompts": len(prompts)}],
        mode=config.mode,
        sampling=params,
        draft_heads=draft_heads,
        stop_sequences=list(stops),
        prompt_tokens=("BOS" if loaded.start_id != loaded.eos_id else "EOS") + " + prompt",
        device=str(model.tok_embeddings.weight.device),
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
        totals=summary,
    )
    write_samples(config.out, samples, manifest, speculative)
    return manifest
