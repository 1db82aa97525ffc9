"""Find and decode the media that ``analyze`` reads: images, folders and videos.

Frames travel as :class:`Frame` values: RGB ``uint8`` ``(H, W, 3)`` with their index
and time. Videos are decoded with PyAV one frame at a time, so memory does not grow
with video length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from affectkit.errors import InputError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})


@dataclass
class Frame:
    """One decoded frame.

    Attributes
    ----------
    image : np.ndarray
        RGB ``uint8`` ``(H, W, 3)``.
    index : int
        Frame number in the source, from 0 (0 for a still image).
    time_s : float
        Presentation time in seconds from the start; NaN for a still image.
    """

    image: np.ndarray
    index: int
    time_s: float


def media_kind(path: Path) -> str:
    """Return ``"image"`` or ``"video"`` from the file suffix.

    Raises
    ------
    InputError
        If the suffix is neither a supported image nor a video format.
    """
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    supported = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    raise InputError(path, f"unsupported format {suffix or '(no suffix)'!r}; supported: {supported}")


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Turn a mix of files and folders into a sorted list of media files.

    Folders are searched recursively for supported suffixes; other files in them are
    skipped. A path given explicitly is kept even if its format is unsupported, so
    that the caller reports it.

    Raises
    ------
    InputError
        If a path does not exist, or a folder holds no supported media.
    """
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES and not p.name.startswith(".")
            )
            if not found:
                raise InputError(path, "folder holds no supported images or videos")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InputError(path, "no such file or folder")
    return files


def to_rgb_uint8(arr: np.ndarray, path: Path | str = "<array>") -> np.ndarray:
    """Convert grey, grey+alpha, RGB, RGBA, 16-bit or float images to RGB ``uint8``.

    Alpha is composited over white. 16-bit images are scaled by 1/257; float images are
    taken as ``[0, 1]``.

    Parameters
    ----------
    arr : np.ndarray
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)``, ``(H, W, 3)`` or ``(H, W, 4)``.

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` ``uint8``.

    Raises
    ------
    InputError
        If the shape or dtype cannot be an image.
    """
    a = np.asarray(arr)
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0)
    elif a.dtype == np.bool_:
        a = a.astype(np.float32) * 255
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32) * (255.0 if a.size and np.nanmax(a) <= 1.0 else 1.0)
    elif a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.integer):
            a = a.astype(np.float32) * (255.0 / max(1, int(a.max()))) if a.size and a.max() > 255 else a.astype(np.float32)
        else:
            raise InputError(path, f"unsupported pixel type {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or min(a.shape[:2]) < 1:
        raise InputError(path, f"cannot read an image of shape {a.shape}")
    a = a.astype(np.float32)
    if a.shape[2] in (2, 4):  # composite alpha over white
        alpha = a[:, :, -1:] / 255.0
        a = a[:, :, :-1] * alpha + 255.0 * (1 - alpha)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB ``uint8`` ``(H, W, 3)``, honouring EXIF orientation.

    Raises
    ------
    InputError
        If the file is missing, not an image, or corrupt.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode == "P":
                im = im.convert("RGBA")
            elif im.mode == "CMYK":
                im = im.convert("RGB")
            elif im.mode in ("I", "I;16", "I;16B", "I;16L"):
                arr = np.asarray(im)
                return to_rgb_uint8(arr.astype(np.uint16) if arr.max() <= 65535 else arr, path)
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise InputError(path, "not a readable image (corrupt or wrong format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"corrupt or truncated image ({exc})") from None
    return to_rgb_uint8(arr, path)


def iter_image(path: str | Path) -> Iterator[Frame]:
    """Yield the one :class:`Frame` of a still image (index 0, time NaN)."""
    yield Frame(read_image(path), 0, float("nan"))


def iter_video(path: str | Path, every: int = 1) -> Iterator[Frame]:
    """Decode a video frame by frame with PyAV.

    Parameters
    ----------
    path : str or Path
    every : int
        Yield every ``every``-th frame (indices 0, every, 2·every, ...). Skipped frames
        are still decoded (codecs need them) but not converted.

    Yields
    ------
    Frame
        RGB frames with their index and presentation time in seconds.

    Raises
    ------
    InputError
        If the file is missing, has no video stream, is corrupt, or has zero frames.
        A video that breaks off part-way raises after yielding the frames before
        the damage.
    ValueError
        If ``every < 1``.
    """
    import av

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot open video ({exc.strerror or type(exc).__name__})") from None
    with container:
        if not container.streams.video:
            raise InputError(path, "no video stream in file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else None
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if index % every:
                    continue
                if frame.time is not None:
                    t = float(frame.time)
                else:
                    t = index / fps if fps else float("nan")
                yield Frame(frame.to_ndarray(format="rgb24"), index, t)
        except av.error.FFmpegError as exc:
            if index < 0:
                raise InputError(path, f"corrupt video, no frame could be decoded ({exc.strerror or type(exc).__name__})") from None
            raise InputError(path, f"video is corrupt or truncated after frame {index} ({exc.strerror or type(exc).__name__})") from None
        if index < 0:
            raise InputError(path, "video has zero frames")


def iter_frames(path: str | Path, every: int = 1) -> Iterator[Frame]:
    """Yield the frames of an image or a video (see :func:`iter_image`, :func:`iter_video`).

    Raises
    ------
    InputError
        See :func:`media_kind`, :func:`read_image` and :func:`iter_video`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    return iter_image(path) if media_kind(path) == "image" else iter_video(path, every)


def video_frame_count(path: str | Path) -> int | None:
    """Frame count from the container header, or None when it does not say."""
    import av

    try:
        with av.open(str(path)) as c:
            n = c.streams.video[0].frames if c.streams.video else 0
            return int(n) or None
    except av.error.FFmpegError:
        return None
