"""`mtp tokenize`: a code corpus to packed token rows in Arrow shards."""

from mtp_cli.tokenize.corpus import TokenizeConfig, is_current, tokenize_corpus
from mtp_cli.tokenize.reader import TokenizedData

__all__ = ["TokenizeConfig", "TokenizedData", "is_current", "tokenize_corpus"]
