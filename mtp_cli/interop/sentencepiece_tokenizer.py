"""A SentencePiece `tokenizer.model` (Llama 1/2 and the method's release) as a `tokenizers` tokenizer.json.

Only the conversion needs the `sentencepiece` package (its model file is a protobuf message);
afterwards mtp encodes with `tokenizers`, like every other tokenizer. The result behaves as Llama's
tokenizer does: a space marker "▁" before the text and in place of spaces, byte fallback for
characters outside the vocabulary, and BOS before every text when special tokens are added.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors

from mtp_cli.artifacts import MtpError

SPACE_MARK = "\u2581"
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6  # SentencePiece's piece types
BPE_MODEL = 2


def read_model_proto(path: Path):
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:
        raise MtpError(
            "converting a SentencePiece tokenizer.model needs the sentencepiece and protobuf packages",
            "pip install 'mtp-cli[interop]'",
        ) from None
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except Exception:  # protobuf's DecodeError, or OSError
        raise MtpError(f"{path} is not a SentencePiece model", "pass the release's tokenizer.model") from None
    return proto


def bpe_merges(vocab: dict[str, int], scores: list[float]) -> list[tuple[str, str]]:
    """The merges a SentencePiece BPE model applies, best first: SentencePiece joins the adjacent pair
    whose joined piece scores highest, so every piece that splits into two pieces is one merge, ranked
    by its own score."""
    ranked = []
    for piece, piece_id in vocab.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[piece_id], piece_id, vocab[left], left, right))
    return [(left, right) for *_, left, right in sorted(ranked)]


def convert_sentencepiece(path: str | Path) -> Tokenizer:
    path = Path(path)
    proto = read_model_proto(path)
    if proto.trainer_spec.model_type != BPE_MODEL:
        raise MtpError(f"{path} is a SentencePiece model of type {proto.trainer_spec.model_type}, not BPE", "mtp converts BPE models (Llama's)")
    pieces = list(proto.pieces)
    vocab = {p.piece: i for i, p in enumerate(pieces)}
    scores = [p.score for p in pieces]
    unk = pieces[proto.trainer_spec.unk_id].piece
    model = models.BPE(vocab, bpe_merges(vocab, scores), unk_token=unk, fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback)
    tokenizer = Tokenizer(model)
    tokenizer.add_special_tokens([AddedToken(p.piece, normalized=False, special=True) for p in pieces if p.type in (UNKNOWN, CONTROL)])
    tokenizer.add_tokens([AddedToken(p.piece, normalized=False) for p in pieces if p.type == USER_DEFINED])

    steps = []
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        steps.append(normalizers.Precompiled(charsmap))
    if proto.normalizer_spec.add_dummy_prefix:
        steps.append(normalizers.Prepend(SPACE_MARK))
    steps.append(normalizers.Replace(Regex(" "), SPACE_MARK))
    tokenizer.normalizer = normalizers.Sequence(steps)

    pieces_back = [decoders.Replace(SPACE_MARK, " "), decoders.ByteFallback(), decoders.Fuse()]
    if proto.normalizer_spec.add_dummy_prefix:
        pieces_back.append(decoders.Strip(content=" ", left=1, right=0))
    tokenizer.decoder = decoders.Sequence(pieces_back)

    bos_id = proto.trainer_spec.bos_id
    if 0 <= bos_id < len(pieces):
        bos = pieces[bos_id].piece
        tokenizer.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)])
    return tokenizer
