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
    "mkv": ("matroska", ".mkv", {}),
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
