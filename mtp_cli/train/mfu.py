"""Model FLOPs utilization: the model's training FLOPs per second over what the devices could do.

FLOPs per token come from `mtp_cli.model.train_flops_per_token` (trunk once, every head's block and
its pass through the shared unembedding). A device's peak is its dense bf16 tensor-core rate, looked
up by the name CUDA reports; elsewhere MFU is unknown (None) unless `--peak-tflops` gives the peak.
"""

from __future__ import annotations

import torch

# Dense bf16 peak TFLOP/s (no sparsity), matched as substrings of torch.cuda.get_device_name(), first
# match wins: the PCIe and NVL H100s before the SXM one, L40S before L4.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.5),
    ("H200", 989.5),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)


def peak_tflops_for(device_name: str) -> float | None:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in device_name:
            return tflops
    return None


def device_peak_tflops(device: torch.device, override: float | None = None) -> float | None:
    """One device's peak: `override` (--peak-tflops) if given, else the table's entry for a known GPU."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    return peak_tflops_for(torch.cuda.get_device_name(device))


def mfu(flops_per_token: float, tokens_per_second: float, peak_tflops: float | None, devices: int = 1) -> float | None:
    """Fraction of `devices` devices' peak used at `tokens_per_second` (all devices' tokens together)."""
    if peak_tflops is None:
        return None
    return flops_per_token * tokens_per_second / (peak_tflops * 1e12 * devices)
