"""Media that the tests make themselves, so the main job is tested without ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# container format, suffix and muxer options: faststart puts the MP4/MOV index first,
# so a cut file still opens and decodes up to the cut (the case that passed silently).
CONTAINERS = {
    "mp4": ("mp4", ".mp4", {"movflags": "faststart"}),
    "mp4-index-at-end": ("mp4", ".mp4", {}),
    "mov": ("mov", ".mov", {"movflags": "faststart"}),
    "mov-index-at-end": ("mov", ".mov", {}),
    "mkv": ("matroska", ".mkv", {}),
    "avi": ("avi", ".avi", {}),
}


def write_video(path: Path, n_frames: int = 40, size: tuple[int, int] = (96, 64), fps: int = 25,
                container: str = "mp4", seed: int = 0) -> Path:
    """Write a noise video of ``n_frames`` ``(W, H) = size`` frames (MPEG-4 Part 2)."""
    import av

    fmt, _, options = CONTAINERS[container]
    rng = np.random.default_rng(seed)
    w, h = size
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(n_frames):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_video_with_sound(path: Path, seconds: float = 3.0, sound: str = "silence", size: tuple[int, int] = (64, 48),
                           fps: int = 25, rate: int = 16000) -> Path:
    """Write an MP4 of noise frames with an AAC sound track holding no speech:
    ``sound`` is "silence", "tone" (440 Hz) or "noise" (white, quiet)."""
    import av

    rng = np.random.default_rng(0)
    w, h = size
    n = int(seconds * fps)
    t = np.arange(int(seconds * rate)) / rate
    wave = {"silence": np.zeros_like(t), "tone": 0.3 * np.sin(2 * np.pi * 440 * t),
            "noise": 0.05 * rng.standard_normal(t.size)}[sound].astype(np.float32)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        audio = out.add_stream("aac", rate=rate, layout="mono")
        for _ in range(n):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for start in range(0, wave.size, 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    return path


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst``."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_image(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0, **save) -> Path:
    """Write a noise RGB image of ``(W, H) = size``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, **save)
    return path


def write_gif(path: Path, n_frames: int = 5, size: tuple[int, int] = (48, 48), duration_ms: int = 80) -> Path:
    """Write an animated GIF of ``n_frames`` frames, ``duration_ms`` each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n_frames)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
    return path


# -- damaged copies ------------------------------------------------------------------


def bitflip(src: Path, dst: Path, bits: list[int]) -> Path:
    """Copy ``src`` to ``dst`` with the given bits flipped.

    Bit ``k`` is bit ``k % 8`` of byte ``k // 8``, taken modulo the file's length in
    bits, so any integer names a bit of any non-empty file.
    """
    data = bytearray(src.read_bytes())
    for k in bits:
        if data:
            k %= 8 * len(data)
            data[k // 8] ^= 1 << (k % 8)
    dst.write_bytes(bytes(data))
    return dst


def splice(first: Path, second: Path, dst: Path, keep: float, skip: float) -> Path:
    """Write the first ``keep`` fraction of ``first``'s bytes, then ``second``'s bytes from
    its ``skip`` fraction on (``keep=1, skip=0`` joins the two whole files)."""
    a, b = first.read_bytes(), second.read_bytes()
    dst.write_bytes(a[: int(len(a) * keep)] + b[int(len(b) * skip):])
    return dst


# -- images of every mode --------------------------------------------------------------

IMAGE_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK")
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "tiff": "TIFF", "webp": "WEBP", "gif": "GIF"}
PATTERNS = ("noise", "zeros", "max", "gradient", "extremes")

# Per mode, the values "extremes" draws from (float images may hold NaN and infinities).
_EXTREMES = {
    "F": [np.nan, np.inf, -np.inf, -1.0, 0.0, 0.5, 1.0, 255.0, 65535.0, 3.4e38],
    "I": [-(2**31), -1, 0, 255, 256, 65535, 65536, 2**31 - 1],
    "I;16": [0, 1, 255, 256, 65535],
}


def make_image(mode: str, size: tuple[int, int], pattern: str = "noise", seed: int = 0, mark: int | None = None):
    """A PIL image of ``mode`` and ``(W, H) = size`` filled with ``pattern``.

    ``pattern`` is one of :data:`PATTERNS`: random values, all zero, the mode's largest
    value, a horizontal ramp, or random picks among extreme values (NaN, infinities and
    negative numbers for float images; the 32-bit limits for ``I``). ``mark`` sets the
    top-left pixel to a grey level, so that the frames of an animation differ.
    """
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    if mode in _EXTREMES:
        dtype = {"F": np.float32, "I": np.int32, "I;16": np.uint16}[mode]
        info = np.finfo(dtype) if mode == "F" else np.iinfo(dtype)
        if pattern == "noise":
            arr = rng.normal(0.5, 2.0, (h, w)) if mode == "F" else rng.integers(info.min, int(info.max) + 1, (h, w))
        elif pattern == "zeros":
            arr = np.zeros((h, w))
        elif pattern == "max":
            arr = np.full((h, w), info.max)
        elif pattern == "gradient":
            arr = np.tile(np.linspace(0, 1 if mode == "F" else 65535, w), (h, 1))
        else:
            arr = rng.choice(np.array(_EXTREMES[mode], dtype=np.float64), (h, w))
        arr = arr.astype(dtype)
        if mark is not None:
            arr[0, 0] = mark / 255 if mode == "F" else mark * 257
        return Image.fromarray(arr)
    if pattern == "noise":
        arr = rng.integers(0, 256, (h, w, 4))
    elif pattern == "zeros":
        arr = np.zeros((h, w, 4))
    elif pattern == "max":
        arr = np.full((h, w, 4), 255)
    elif pattern == "gradient":
        arr = np.broadcast_to(np.linspace(0, 255, w)[None, :, None], (h, w, 4))
    else:
        arr = rng.choice(np.array([0, 1, 254, 255]), (h, w, 4))
    arr = np.array(arr, dtype=np.uint8)
    if mark is not None:
        arr[0, 0] = (mark, mark, mark, 255)
    im = Image.fromarray(arr)  # RGBA
    if mode == "P":
        return im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    return im.convert(mode)


def write_frames(path: Path, frames: list, fmt: str, duration_ms: int = 80, **save) -> Path:
    """Save PIL ``frames`` as ``fmt`` (a key of :data:`IMAGE_FORMATS`): one frame as a still
    image; several as an animation (GIF, WebP, APNG) or a multi-page TIFF."""
    if len(frames) > 1:
        save = {"save_all": True, "append_images": frames[1:], "duration": duration_ms, **save}
        if fmt in ("gif", "webp", "png"):
            save["loop"] = 0
    frames[0].save(path, format=IMAGE_FORMATS[fmt], **save)
    return path


def _can_save(mode: str, fmt: str) -> bool:
    import io
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            make_image(mode, (3, 2)).save(io.BytesIO(), format=IMAGE_FORMATS[fmt])
        except (OSError, ValueError, KeyError, TypeError):
            return False
    return True


SAVEABLE = tuple((m, f) for m in IMAGE_MODES for f in IMAGE_FORMATS if _can_save(m, f))
"""The (mode, format) pairs that Pillow writes."""


def draw_face(size: tuple[int, int] = (320, 240), centre: tuple[int, int] = (160, 120), scale: float = 1.0,
              smile: bool = True) -> np.ndarray:
    """An RGB ``(H, W, 3)`` ``uint8`` frame with a drawn cartoon face that MTCNN detects.

    Skin-coloured oval, hair, eyes with pupils and brows, nose and mouth, blurred a
    little; ``scale`` 1 gives a face about 90 x 120 px.
    """
    import cv2

    w, h = size
    cx, cy = centre
    img = np.full((h, w, 3), (70, 90, 110), np.uint8)

    def p(dx: float, dy: float) -> tuple[int, int]:
        return cx + int(dx * scale), cy + int(dy * scale)

    def r(a: float, b: float) -> tuple[int, int]:
        return int(a * scale), int(b * scale)

    cv2.ellipse(img, p(0, 0), r(45, 60), 0, 0, 360, (224, 172, 150), -1)
    cv2.ellipse(img, p(0, -55), r(48, 22), 0, 180, 360, (40, 30, 20), -1)
    for dx in (-18, 18):
        cv2.ellipse(img, p(dx, -12), r(9, 5), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(img, p(dx, -12), int(4 * scale), (40, 30, 30), -1)
        cv2.line(img, p(dx - 10, -24), p(dx + 10, -25), (60, 40, 30), 3)
    cv2.line(img, p(0, -5), p(-5, 15), (180, 120, 110), 2)
    cv2.ellipse(img, p(0, 30), r(16, 6), 0, 0, 180 if smile else -180, (150, 60, 60), 3)
    return cv2.GaussianBlur(img, (5, 5), 0)


def write_face_video(path: Path, n_frames: int = 30, fps: int = 10, absent: tuple[int, ...] = (),
                     two_faces: bool = False) -> Path:
    """A video of a drawn face drifting right (MPEG-4 Part 2, 320 x 240).

    Frames whose index is in ``absent`` show the background only; ``two_faces`` adds a
    second, smaller face on the right that stays for the whole clip.
    """
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"qscale": "2"}
        for i in range(n_frames):
            img = draw_face(centre=(90 + i, 120), scale=0.9)
            if i in absent:
                img[:] = (70, 90, 110)
            if two_faces:
                img[:, 200:] = draw_face(centre=(260, 120), scale=0.8)[:, 200:]
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
