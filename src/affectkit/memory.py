"""Keep the C heap from growing over a long video.

The detector and the model allocate many large tensors in every chunk of frames and
free them again. glibc's ``malloc`` serves them from its heap (after the first such
block is freed, its mmap threshold rises to up to 32 MiB) and keeps the freed blocks
for reuse. Whenever the blocks that are live at one moment do not fit the holes left
by earlier ones, the heap grows; the freed pages stay resident, so the process's
memory creeps up for minutes, by an amount that differs from run to run
(docs/long_video.md: peaks of 1132, 1233 and 1390 MiB for 1, 3 and 10 minutes of
video before this module, with the memory actually in use flat).

:class:`HeapTrimmer`, called from the analysis loop, hands the free pages back to the
system every few dozen frames (``malloc_trim(0)``), so what is resident is what is in
use plus at most a few chunks' worth of free blocks, however long the video. It does
nothing where the C library is not glibc.

Fixing the mmap threshold instead (``mallopt(M_MMAP_THRESHOLD)``) would map and unmap
every large block: it kept memory flat too, but the fresh pages cost 20 times as many
page faults and made the sample clip 40 to 60 % slower on the benchmark machine.
"""

from __future__ import annotations

import ctypes
import os
from typing import Callable

# Analysed frames between two trims: 4 chunks of 8 frames. Every frame would cost more
# page faults for about 20 MiB less peak memory; see docs/long_video.md.
TRIM_EVERY_FRAMES = 32

_libc: ctypes.CDLL | None | bool = False  # False: not looked up yet


def _glibc() -> ctypes.CDLL | None:
    """The running C library if it is glibc with ``malloc_trim``, else None (looked up once)."""
    global _libc
    if _libc is False:
        _libc = None
        try:
            if os.confstr("CS_GNU_LIBC_VERSION"):  # "glibc 2.36"; None or an error elsewhere
                libc = ctypes.CDLL(None)  # the symbols already loaded into the process
                if hasattr(libc, "malloc_trim"):
                    _libc = libc
        except (ValueError, OSError, AttributeError):
            pass
    return _libc


def release_free_heap() -> bool:
    """Hand the free pages of glibc's heaps back to the system (``malloc_trim(0)``).

    Live memory is untouched; freed blocks keep their address range, and a page is
    faulted in again when it is reused.

    Returns
    -------
    bool
        True if memory was released; False if none was, or the C library is not glibc.
    """
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


class HeapTrimmer:
    """Call :func:`release_free_heap` once every ``every`` frames.

    Parameters
    ----------
    every : int
        Frames between two releases.
    release : callable, optional
        What to call instead of :func:`release_free_heap` (for tests). By default,
        nothing is called where the C library is not glibc.

    Raises
    ------
    ValueError
        If ``every < 1``.
    """

    def __init__(self, every: int = TRIM_EVERY_FRAMES, release: Callable[[], object] | None = None):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = every
        self._release = release if release is not None else (release_free_heap if _glibc() else None)
        self._frames = 0
        self.releases = 0

    def add(self, frames: int) -> bool:
        """Count ``frames`` more frames done; release the free heap if ``every`` have passed.

        Returns
        -------
        bool
            True if this call released.
        """
        if self._release is None:
            return False
        self._frames += frames
        if self._frames < self.every:
            return False
        self._frames = 0
        self._release()
        self.releases += 1
        return True
