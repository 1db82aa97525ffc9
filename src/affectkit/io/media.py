"""Find and decode the media that ``analyze`` reads: images, folders and videos.

Frames travel as :class:`Frame` values: RGB ``uint8`` ``(H, W, 3)`` with their index
and time. Videos are decoded with PyAV one frame at a time, so memory does not grow
with video length.

Every read either yields every frame or says how far it got: a video that breaks off,
or whose decoded frames fall short of the length its container declares, raises
:class:`~affectkit.errors.InputError` after yielding the frames it could decode. Images
above ``max_pixels`` are refused before they are decoded; large ones below it are
decoded at a reduced scale (``Frame.scale``), so memory stays bounded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from affectkit.errors import InputError, one_line
from affectkit.io.limits import DEFAULT_MAX_PIXELS

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"})


WORK_PIXELS = 16_000_000
"""Images larger than this are decoded downscaled to about this many pixels for
detection; boxes and landmarks are scaled back to the original pixels."""

# A decoded video may end this much short of its declared length and still count as
# complete: containers round durations, and the last frame's display time is not
# always counted in the duration.
_SHORT_FRAMES = 2
_SHORT_FRACTION = 0.02


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
    scale : float
        Source pixels per pixel of ``image`` (1.0 unless a large image was decoded
        downscaled); multiply coordinates in ``image`` by it for source pixels.
    """

    image: np.ndarray
    index: int
    time_s: float
    scale: float = 1.0


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
    if a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 and min(a.shape[:2]) >= 1:
        return np.ascontiguousarray(a)  # already RGB uint8: no float copy (4 bytes per value)
    if a.dtype == np.uint16:
        a = (a.astype(np.float32) / 257.0)
    elif a.dtype == np.bool_:
        a = a.astype(np.float32) * 255
    elif np.issubdtype(a.dtype, np.floating):
        # NaN and inf pixels (float TIFFs) become black, not a cast warning.
        a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        a = a * (255.0 if a.size and a.max() <= 1.0 else 1.0)
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


def _open_image(path: Path, max_pixels: int | None):
    """Open an image lazily (header only) after the size check; the caller closes it."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(path, "no such file")
    Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces PIL's warning/bomb error
    try:
        with warnings.catch_warnings():
            # Pillow warns (Corrupt EXIF data, Truncated File Read) before it fails or
            # recovers; the outcome is what the user gets, on one line.
            warnings.simplefilter("ignore")
            im = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(path, "not a readable image (corrupt or wrong format)") from None
    except Exception as exc:  # Pillow's decoders raise many kinds (struct.error, TypeError...) on damage
        raise InputError(path, f"corrupt or truncated image ({one_line(exc)})") from None
    w, h = im.size
    if max_pixels is not None and w * h > max_pixels:
        im.close()
        raise InputError(path, f"image is {w}x{h} = {w * h / 1e6:.0f} megapixels, above the limit of "
                               f"{max_pixels / 1e6:.0f} (raise it with --max-pixels)")
    return im


def _to_array(im, path: Path, work_pixels: int | None) -> tuple[np.ndarray, float]:
    """Decode one PIL frame to RGB uint8, downscaled to about ``work_pixels`` if larger."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see _open_image
        return _decode(im, path, work_pixels)


def _decode(im, path: Path, work_pixels: int | None) -> tuple[np.ndarray, float]:
    from PIL import Image, ImageOps

    w0, h0 = im.size
    if work_pixels is not None and w0 * h0 > work_pixels:
        k = (w0 * h0 / work_pixels) ** 0.5
        im.draft("RGB", (int(w0 / k), int(h0 / k)))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
    im = ImageOps.exif_transpose(im)
    if im.mode == "P":
        im = im.convert("RGBA")
    elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    if work_pixels is not None and im.size[0] * im.size[1] > work_pixels * 1.01:
        k = (im.size[0] * im.size[1] / work_pixels) ** 0.5
        im = im.resize((max(1, int(im.size[0] / k)), max(1, int(im.size[1] / k))), Image.BOX)
    # exif_transpose may swap the sides; the scale is the same along both.
    scale = max(w0, h0) / max(im.size)
    if im.mode in ("I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(im)
        return to_rgb_uint8(arr.astype(np.uint16) if arr.max() <= 65535 else arr, path), scale
    return to_rgb_uint8(np.asarray(im), path), scale


def read_image_scaled(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      work_pixels: int | None = None) -> tuple[np.ndarray, float]:
    """Read an image as RGB ``uint8`` ``(H, W, 3)``, optionally downscaled, honouring EXIF orientation.

    Parameters
    ----------
    path : str or Path
    max_pixels : int or None
        Refuse images with more pixels than this (checked from the header, before
        decoding); None = no limit.
    work_pixels : int or None
        Decode images larger than this downscaled to about this many pixels (JPEG
        decodes at a reduced scale directly); None = full size.

    Returns
    -------
    image : np.ndarray
        ``(H, W, 3)`` ``uint8``.
    scale : float
        Source pixels per returned pixel (1.0 when not downscaled).

    Raises
    ------
    InputError
        If the file is missing, not an image, corrupt, or above ``max_pixels``.
    """
    path = Path(path)
    im = _open_image(path, max_pixels)
    try:
        return _to_array(im, path, work_pixels)
    except InputError:
        raise
    except Exception as exc:  # any decoder failure on a damaged file is that file's problem
        raise InputError(path, f"corrupt or truncated image ({one_line(exc)})") from None
    finally:
        im.close()


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as RGB ``uint8`` ``(H, W, 3)`` at full size, honouring EXIF orientation.

    Raises
    ------
    InputError
        If the file is missing, not an image, corrupt, or above ``max_pixels``.
    """
    return read_image_scaled(path, max_pixels, None)[0]


def iter_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               work_pixels: int | None = WORK_PIXELS) -> Iterator[Frame]:
    """Yield the frames of an image file: one for a still image, every frame of an animation.

    A still image gives index 0 and time NaN. An animated GIF, PNG or WebP gives
    each of its frames with its index and its display time from the frame durations
    (seconds).

    Raises
    ------
    InputError
        See :func:`read_image_scaled`; an animation that breaks off raises after
        yielding the frames before the damage.
    """
    path = Path(path)
    im = _open_image(path, max_pixels)
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # see _open_image
                n = int(getattr(im, "n_frames", 1) or 1)  # counting frames reads the whole file
        except Exception as exc:
            raise InputError(path, f"corrupt or truncated image ({one_line(exc)})") from None
        if n <= 1:
            try:
                image, scale = _to_array(im, path, work_pixels)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(path, f"corrupt or truncated image ({one_line(exc)})") from None
            yield Frame(image, 0, float("nan"), scale)
            return
        t = 0.0
        for i in range(n):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # see _open_image
                    im.seek(i)
                    frame = im.copy()
                image, scale = _to_array(frame, path, work_pixels)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(path, f"animation is corrupt or truncated after frame {i - 1} of {n} "
                                       f"({one_line(exc)})") from None
            yield Frame(image, i, t, scale)
            t += float(im.info.get("duration") or 100) / 1000.0  # GIF default: 100 ms
    finally:
        im.close()


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
        # Damaged metadata is not a reason to lose the frames: decode it with replacements.
        container = av.open(str(path), metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot open video ({exc.strerror or type(exc).__name__})") from None
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(path, f"cannot open video ({one_line(exc)})") from None
    with container:
        if not container.streams.video:
            raise InputError(path, "no video stream in file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else None
        declared_frames, declared_s = _declared_length(container, stream)
        index = -1
        last_t = float("nan")
        try:
            for frame in container.decode(stream):
                index += 1
                if frame.time is not None:
                    last_t = float(frame.time)
                else:
                    last_t = index / fps if fps else float("nan")
                if index % every:
                    continue
                yield Frame(frame.to_ndarray(format="rgb24"), index, last_t)
        except av.error.FFmpegError as exc:
            if index < 0:
                raise InputError(path, f"corrupt video, no frame could be decoded ({exc.strerror or type(exc).__name__})") from None
            raise InputError(path, f"video is corrupt or truncated after frame {index} ({exc.strerror or type(exc).__name__})") from None
        if index < 0:
            raise InputError(path, "video has zero frames")
        short = _shortfall(index + 1, last_t, fps, declared_frames, declared_s)
        if short:
            raise InputError(path, f"video is truncated: {short}; the rows of the decoded frames are kept")


def _declared_length(container, stream) -> tuple[int | None, float | None]:
    """The frame count and duration (seconds) that the container declares, where it does."""
    frames = int(stream.frames or 0) or None
    seconds = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / 1e6  # microseconds (av.time_base)
    start = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
    return frames, (seconds + start if seconds else None)


def _shortfall(decoded: int, last_t: float, fps: float | None, frames: int | None, seconds: float | None) -> str:
    """Describe how far a decode fell short of the declared length, or '' if it did not.

    A file counts as truncated only when both the frame count (where declared) and
    the time reached (where known) fall short, each by more than the tolerance, so a
    container whose count and duration disagree slightly is not reported.
    """
    frame_dt = 1.0 / fps if fps else 0.0
    short_frames = frames is not None and decoded < frames - max(_SHORT_FRAMES, _SHORT_FRACTION * frames)
    end = last_t + frame_dt
    short_time = seconds is not None and np.isfinite(last_t) and end < seconds - max(
        _SHORT_FRAMES * frame_dt, _SHORT_FRACTION * seconds)
    if frames is not None and seconds is not None and np.isfinite(last_t):
        short = short_frames and short_time
    else:
        short = short_frames or short_time
    if not short:
        return ""
    parts = [f"decoded {decoded} of {frames} frames" if frames else f"decoded {decoded} frames"]
    if seconds is not None and np.isfinite(last_t):
        parts.append(f"{end:.1f} of {seconds:.1f} s")
    return ", ".join(parts)


def iter_frames(path: str | Path, every: int = 1, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                work_pixels: int | None = WORK_PIXELS) -> Iterator[Frame]:
    """Yield the frames of an image or a video (see :func:`iter_image`, :func:`iter_video`).

    ``max_pixels`` and ``work_pixels`` apply to images (see :func:`read_image_scaled`);
    an animated image yields every ``every``-th frame, as a video does.

    Raises
    ------
    InputError
        See :func:`media_kind`, :func:`read_image` and :func:`iter_video`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if media_kind(path) == "image":
        frames = iter_image(path, max_pixels, work_pixels)
        return (f for f in frames if f.index % every == 0) if every > 1 else frames
    return iter_video(path, every)


def video_frame_count(path: str | Path) -> int | None:
    """Frame count from the container header, or None when it does not say."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            n = c.streams.video[0].frames if c.streams.video else 0
            return int(n) or None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError):
        return None
