"""Shared by every step: manifests, atomic outputs, hashes, and the user-facing error type."""

from mtp_cli.artifacts.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_output_folder,
    is_mtp_artifact,
    staged_folder,
)
from mtp_cli.artifacts.names import (
    EVAL_SUMMARY_NAME,
    MANIFEST_NAME,
    METRICS_NAME,
    SAMPLES_NAME,
    SIDECAR_SUFFIX,
    sidecar_path,
)
from mtp_cli.artifacts.errors import MtpError
from mtp_cli.artifacts.folder_lock import LOCK_NAME, acquire_folder_lock
from mtp_cli.artifacts.machine import default_workers
from mtp_cli.artifacts.progress import NullProgress, ProgressSink
from mtp_cli.artifacts.hashing import sha256_bytes, sha256_file, sha256_in_background
from mtp_cli.artifacts.manifest import (
    FORMAT_VERSIONS,
    build_manifest,
    jsonable,
    load_manifest_file,
    read_manifest,
    write_manifest,
)

__all__ = [
    "EVAL_SUMMARY_NAME",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "METRICS_NAME",
    "SAMPLES_NAME",
    "SIDECAR_SUFFIX",
    "FORMAT_VERSIONS",
    "MtpError",
    "default_workers",
    "NullProgress",
    "ProgressSink",
    "acquire_folder_lock",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "build_manifest",
    "check_output_folder",
    "is_mtp_artifact",
    "jsonable",
    "load_manifest_file",
    "read_manifest",
    "sha256_bytes",
    "sha256_file",
    "sha256_in_background",
    "sidecar_path",
    "staged_folder",
    "write_manifest",
]
