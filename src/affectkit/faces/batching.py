"""Batch sizes for networks that run on a varying number of candidates (MTCNN's R- and O-net)."""

from __future__ import annotations


def padded_size(n: int) -> int:
    """Round a batch size up to one of four sizes per doubling (..., 28, 32, 40, 48, 56, 64, 80, ...).

    At most 25 % larger than ``n``; sizes up to 8 are kept.
    """
    step = 1 << max(0, n.bit_length() - 3)
    return -(-n // step) * step
