"""Keep the native (C) heap from growing over a long video.

MTCNN allocates tensors of a different size in every chunk of frames (its second
and third stages run on as many candidate boxes as the first stage found). With
glibc's default settings, a freed block of more than 128 KiB that was mmapped
raises the mmap threshold to its size (up to 32 MiB), so later blocks of that size
are carved out of the heap arenas instead; freed, they leave holes that glibc keeps
rather than returning to the system. The process's resident memory then creeps up
for minutes and its peak rises with video length (docs/long_video.md: 1132, 1233 and
1390 MiB for 1, 3 and 10 minutes) although the memory in use stays flat.

:func:`bound_native_heap` fixes the mmap threshold, so every large block is mapped
on allocation and unmapped when freed and the heaps hold only small blocks. It is a
no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os

# glibc's <malloc.h>: mallopt parameter of the mmap threshold. Setting it also turns
# off the dynamic raising of the threshold described above.
M_MMAP_THRESHOLD = -3
# glibc's own initial threshold; measured on the sample clip, it keeps the heaps'
# free bytes at about 1 MiB with no measurable loss of speed (docs/long_video.md).
DEFAULT_MMAP_THRESHOLD = 128 * 1024

_applied = False


def _glibc() -> ctypes.CDLL | None:
    """The running C library if it is glibc with ``mallopt``, else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):  # "glibc 2.36"; None or an error elsewhere
            return None
        libc = ctypes.CDLL(None)  # the symbols already loaded into the process, libc's among them
    except (ValueError, OSError, AttributeError):
        return None
    return libc if hasattr(libc, "mallopt") else None


def bound_native_heap(threshold: int = DEFAULT_MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold so that freed large blocks go back to the system.

    Process-wide and idempotent: the first call sets it, later calls do nothing.
    Nothing is changed where the C library is not glibc, or when the environment
    already sets ``MALLOC_MMAP_THRESHOLD_`` (the user's own tuning wins).

    Parameters
    ----------
    threshold : int
        Allocations of at least this many bytes are served by ``mmap`` and returned
        to the system on ``free``.

    Returns
    -------
    bool
        True if this call set the threshold.

    Raises
    ------
    ValueError
        If ``threshold`` is not a positive number of bytes.
    """
    global _applied
    if threshold <= 0:
        raise ValueError(f"threshold must be a positive number of bytes, got {threshold}")
    if _applied or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    libc = _glibc()
    if libc is None:
        return False
    _applied = bool(libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(threshold)))  # 1 on success
    return _applied
