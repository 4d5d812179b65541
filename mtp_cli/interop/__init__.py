"""Models in and out of mtp: Hugging Face Llama-family folders and the method's released checkpoints.

    from mtp_cli.interop import import_model, export_model
    import_model("path/to/hf-or-release-folder", "ckpt")   # an ordinary mtp checkpoint
    export_model("ckpt-or-run", "hf-folder")                # transformers loads it; extra heads beside it

Reads safetensors and torch files itself; only a SentencePiece tokenizer.model (release checkpoints)
needs the optional `sentencepiece` and `protobuf` packages.
"""

from mtp_cli.interop.exporter import export_model
from mtp_cli.interop.hf_layout import SUPPORTED_MODEL_TYPES
from mtp_cli.interop.importer import import_model

__all__ = ["SUPPORTED_MODEL_TYPES", "export_model", "import_model"]
