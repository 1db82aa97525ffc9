"""Face crops of a video (or a folder of frames) at sampled times, for temporal models.

Temporal models see one face per step. A clip is sampled at a fixed rate or to a
fixed count (:func:`affectkit.temporal.sequences.sample_times`), each sampled frame
goes through the same detector and crop policy as ``affectkit analyze``, and the
largest face is kept (the clips of AFEW, AFEW-VA and SEND centre on one person).
Steps without a face are filled from the nearest step with one and marked in
``present``. Results are cached on disk, because detection is the slow part and
experiments reuse the same clips many times.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectkit.errors import InputError
from affectkit.temporal.sequences import fill_missing, nearest_indices, sample_times

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class ClipFaces:
    """Grey face crops of one clip at its sampled times.

    Attributes
    ----------
    crops : np.ndarray
        ``(T, S, S)`` ``uint8`` grey faces, ``S`` pixels a side; steps without a face
        hold the crop of the nearest step with one.
    times : np.ndarray
        ``(T,)`` ``float64`` seconds.
    present : np.ndarray
        ``(T,)`` ``bool``, False where no face was found.
    duration_s : float
        Clip length, seconds.
    """

    crops: np.ndarray
    times: np.ndarray
    present: np.ndarray
    duration_s: float


def video_duration(path: str | Path) -> float | None:
    """Length of a video in seconds from its header, or None when it does not say."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            if not c.streams.video:
                return None
            s = c.streams.video[0]
            if s.duration is not None and s.time_base is not None:
                return float(s.duration * s.time_base)
            if c.duration:
                return c.duration / 1e6
            if s.frames and s.average_rate:
                return s.frames / float(s.average_rate)
    except av.error.FFmpegError:
        return None
    return None


def _grey_crop(image: np.ndarray, face, crop: str, size: int) -> np.ndarray:
    import cv2

    from affectkit.faces.align import align_face

    patch = align_face(image, face, crop, out_size=size)
    return patch if patch.ndim == 2 else cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)


def _largest(faces: list):
    return max(faces, key=lambda f: float(f.box[2] * f.box[3])) if faces else None


class _Cropper:
    """Detects the largest face of a frame and crops it, in small batches."""

    def __init__(self, detector, crop: str, size: int):
        self.detector, self.crop, self.size = detector, crop, size

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for start in range(0, len(frames), 8):
            batch = frames[start : start + 8]
            for image, faces in zip(batch, self.detector.detect_batch(batch)):
                face = _largest(faces)
                out.append(None if face is None else _grey_crop(image, face, self.crop, self.size))
        return out


def _finish(path: Path, crops: list[np.ndarray | None], times: np.ndarray, size: int, duration: float) -> ClipFaces:
    present = np.array([c is not None for c in crops], dtype=bool)
    if not present.any():
        raise InputError(path, f"no face found in any of the {len(crops)} sampled frames")
    stack = np.stack([c if c is not None else np.zeros((size, size), np.uint8) for c in crops])
    return ClipFaces(fill_missing(stack, present), times, present, duration)


def _cache_file(path: Path, kind: str, params: dict) -> Path:
    from affectkit.paths import cache_dir

    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{kind}|{sorted(params.items())}"
    return cache_dir() / "clip-faces" / f"{path.stem}-{hashlib.md5(key.encode()).hexdigest()[:16]}.npz"


def _cached(path: Path, kind: str, params: dict, compute) -> ClipFaces:
    file = _cache_file(path, kind, params)
    if file.exists():
        with np.load(file) as z:
            return ClipFaces(z["crops"], z["times"], z["present"], float(z["duration"]))
    result = compute()
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, crops=result.crops, times=result.times, present=result.present, duration=result.duration_s)
    tmp.replace(file)  # atomic: an interrupted run never leaves a half cache file
    return result


def read_clip_faces(
    path: str | Path,
    *,
    rate: float | None = 2.0,
    count: int | None = None,
    times: np.ndarray | None = None,
    detector=None,
    detector_name: str = "mtcnn",
    crop: str = "ng2015",
    size: int = 64,
    fps: float = 25.0,
    cache: bool = True,
) -> ClipFaces:
    """Face crops of a video file or a folder of frame images at sampled times.

    Parameters
    ----------
    path : str or Path
        A video file, or a folder of frame images (``.png``/``.jpg``, in name order,
        ``fps`` frames per second).
    rate, count : optional
        Sampling: frames per second, or frames per clip (see
        :func:`~affectkit.temporal.sequences.sample_times`). Ignored when ``times``
        is given; ``count`` wins over ``rate``.
    times : np.ndarray, optional
        ``(T,)`` seconds to sample at (e.g. the 0.5 s rating times of SEND).
    detector : FaceDetector, optional
        A built detector to reuse; default one is made from ``detector_name``.
    detector_name : {"mtcnn", "haar"}
    crop : {"ng2015", "landmark_box", "box"}
        Crop policy (:mod:`affectkit.faces.align`).
    size : int
        Side of the crops, pixels.
    fps : float
        Frame rate of a folder of frames.
    cache : bool
        Reuse and store the result under ``$AFFECTKIT_CACHE/clip-faces``.

    Returns
    -------
    ClipFaces

    Raises
    ------
    InputError
        If the file or folder is missing, unreadable, has no frames, or no sampled
        frame has a face.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if count is not None:
        rate = None
    params = {"rate": rate, "count": count, "times": None if times is None else np.round(times, 4).tolist(),
              "detector": detector_name, "crop": crop, "size": size, "fps": fps}

    def compute() -> ClipFaces:
        from affectkit.faces.detect import create_detector

        cropper = _Cropper(detector or create_detector(detector_name), crop, size)
        if path.is_dir():
            return _read_folder(path, cropper, rate, count, times, size, fps)
        return _read_video(path, cropper, rate, count, times, size)

    return _cached(path, "faces", params, compute) if cache else compute()


def _target_times(path: Path, duration: float | None, rate, count, times) -> np.ndarray:
    if times is not None:
        return np.asarray(times, dtype=np.float64)
    if duration is None or not math.isfinite(duration) or duration <= 0:
        raise InputError(path, "the video does not state its duration; pass the sampling times explicitly")
    return sample_times(duration, rate=rate, count=count)


def _read_folder(path: Path, cropper: _Cropper, rate, count, times, size: int, fps: float) -> ClipFaces:
    from affectkit.io.media import read_image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(path, "folder holds no frame images (.png, .jpg)")
    frame_times = np.arange(len(files)) / fps
    target = _target_times(path, len(files) / fps, rate, count, times)
    picks = nearest_indices(frame_times, target)
    unique = sorted(set(picks.tolist()))
    crops = dict(zip(unique, cropper([read_image(files[i]) for i in unique])))
    return _finish(path, [crops[i] for i in picks], target, size, len(files) / fps)


def _read_video(path: Path, cropper: _Cropper, rate, count, times, size: int) -> ClipFaces:
    from affectkit.io.media import iter_video

    duration = video_duration(path)
    target = _target_times(path, duration, rate, count, times)
    # One pass: a target time takes the decoded frame nearest to it. Chosen frames are
    # cropped in batches as soon as no later target can pick them, so a long video never
    # holds more than a few full frames.
    pending: dict[int, np.ndarray] = {}
    crops: dict[int, np.ndarray | None] = {}
    assign = np.full(len(target), -1, dtype=np.int64)

    def flush(before: int) -> None:
        done = [i for i in pending if i < before]
        crops.update(zip(done, cropper([pending.pop(i) for i in done])))

    k, prev = 0, None
    for frame in iter_video(path):
        while k < len(target) and frame.time_s >= target[k]:
            use_prev = prev is not None and (target[k] - prev.time_s) < (frame.time_s - target[k])
            pick = prev if use_prev else frame
            pending.setdefault(pick.index, pick.image)
            assign[k] = pick.index
            k += 1
        if k == len(target):
            break
        prev = frame
        if len(pending) >= 16:
            flush(prev.index)
    while k < len(target) and prev is not None:  # targets past the last frame take the last frame
        pending.setdefault(prev.index, prev.image)
        assign[k] = prev.index
        k += 1
    flush(np.iinfo(np.int64).max)
    last = prev.time_s if prev is not None else float(target[-1])
    return _finish(path, [crops[i] for i in assign], target, size, duration or last)
