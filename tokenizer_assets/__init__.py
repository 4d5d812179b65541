"""Tokenizers shipped with mtp (see README.md here for how each was made)."""
