"""`mtp tokenize`: a code corpus to packed token rows in Arrow shards."""

from mtp_cli.artifacts.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "config": "TokenizeConfig",
    "corpus": "is_current tokenize_corpus",
    "reader": "TokenizedData",
})
