"""mtp: multi-token prediction, from a code corpus to pass@k."""

__version__ = "0.1.0"
