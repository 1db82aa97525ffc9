"""What an uploaded file is, from its first bytes (never from its name).

``affectkit serve`` stores an upload under a name it chooses (``media`` plus the
suffix found here), so a client's file name never reaches the filesystem, and a file
whose bytes are not a supported image or video is refused before any decoder sees it.
"""

from __future__ import annotations

HEAD_BYTES = 64
"""Bytes of the start of a file that :func:`sniff` needs."""

_ISO_BRANDS_MOV = (b"qt  ",)


def sniff(head: bytes) -> tuple[str, str] | None:
    """The kind and suffix of a media file from its first bytes (magic numbers).

    Parameters
    ----------
    head : bytes
        The first :data:`HEAD_BYTES` bytes of the file (fewer if it is shorter).

    Returns
    -------
    (kind, suffix) or None
        ``kind`` is ``"image"`` or ``"video"``; ``suffix`` is one that
        :func:`affectkit.io.media.media_kind` accepts (``".png"``, ``".mp4"``...).
        None when the bytes are no supported format.
    """
    h = bytes(head[:HEAD_BYTES])
    if h.startswith(b"\xff\xd8\xff"):
        return "image", ".jpg"
    if h.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", ".png"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image", ".gif"
    if h.startswith(b"BM") and len(h) >= 14:
        return "image", ".bmp"
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", ".tif"
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return "image", ".webp"
    if h[:2] in (b"P5", b"P6") and h[2:3] in (b" ", b"\n", b"\r", b"\t"):
        return "image", ".ppm" if h[:2] == b"P6" else ".pgm"
    if h[4:8] == b"ftyp":
        return "video", ".mov" if h[8:12] in _ISO_BRANDS_MOV else ".mp4"
    if h[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "video", ".mov"
    if h.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", ".webm" if b"webm" in h else ".mkv"
    if h[:4] == b"RIFF" and h[8:12] == b"AVI ":
        return "video", ".avi"
    if h.startswith(b"\x00\x00\x01\xba") or h.startswith(b"\x00\x00\x01\xb3"):
        return "video", ".mpg"
    if h.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video", ".wmv"
    if h.startswith(b"FLV\x01"):
        return "video", ".flv"
    return None


def describe(head: bytes) -> str:
    """A few words on what the bytes are, for a 415 message (``"text"``, ``"a PDF"``...)."""
    h = bytes(head[:HEAD_BYTES])
    if h.startswith(b"%PDF"):
        return "a PDF document"
    if h.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if h.lstrip().startswith((b"<", b"{", b"[")) or all(32 <= c < 127 or c in (9, 10, 13) for c in h):
        return "text"
    return "unrecognised bytes"
