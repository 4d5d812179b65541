"""`mtp tokenize`: a code corpus to packed token rows in Arrow shards."""

from mtp_cli.artifacts.lazy import lazy_exports

_EXPORTS = {
    "TokenizeConfig": "config",
    "is_current": "corpus",
    "tokenize_corpus": "corpus",
    "TokenizedData": "reader",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
