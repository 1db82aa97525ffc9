"""``analyze``: the main job, from media paths to the per-frame emotion table.

    media ──► decode ──► detect ──► align ──► recognise ──► table

Each stage lives in its own module; this function only strings them together,
in chunks of frames so that detection and the network run batched while memory
stays bounded however long a video is.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from affectkit.errors import InputError
from affectkit.faces.align import CROP_POLICIES, align_face
from affectkit.faces.detect import DETECTORS, create_detector
from affectkit.faces.types import Face
from affectkit.io.media import Frame, expand_inputs, iter_frames, media_kind, video_frame_count
from affectkit.models.recognizer import Recognizer
from affectkit.table import face_rows, make_table


class Analyzer:
    """The configured pipeline; build once, call :meth:`run_source` per file.

    Parameters
    ----------
    detector : {"mtcnn", "haar"}
        Face detector (see :mod:`affectkit.faces.detect`).
    faces_cropped : bool
        Treat every image (or video frame) as one already-cropped face, as in
        FER-2013 or CK+; no detection is run.
    model : str or Path
        Bundled model name or ``.safetensors`` path.
    crop : {"ng2015", "landmark_box", "box"}
        Crop policy (see :mod:`affectkit.faces.align`).
    every : int
        Analyse every N-th video frame.
    tta : {"flip", "multi", "none"} or bool
        Test-time augmentation in the recognizer (see :class:`Recognizer`).
    min_face_size : int
        Smallest face side the detector looks for, pixels.
    batch_frames : int
        Frames per detection/recognition chunk.

    Raises
    ------
    ValueError
        If an option is out of range.
    WeightsError
        If the model cannot be loaded.
    """

    def __init__(
        self,
        *,
        detector: str = "mtcnn",
        faces_cropped: bool = False,
        model: str | Path = "default",
        crop: str = "ng2015",
        every: int = 1,
        tta: bool | str = "flip",
        min_face_size: int = 40,
        batch_frames: int = 8,
    ):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if crop not in CROP_POLICIES:
            raise ValueError(f"crop must be one of {CROP_POLICIES}, got {crop!r}")
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
        self.recognizer = Recognizer(model, tta=tta)
        self.detector = None if faces_cropped else create_detector(detector, min_face_size=min_face_size)
        self.faces_cropped = faces_cropped
        self.crop = crop
        self.every = every
        self.batch_frames = 256 if faces_cropped else batch_frames
        self.timings = {"decode": 0.0, "detect": 0.0, "align": 0.0, "model": 0.0}
        self.frames_done = 0

    def _faces(self, chunk: list[Frame]) -> tuple[list[list[Face]], list[np.ndarray]]:
        if self.detector is None:
            faces = [
                [Face(np.array([0, 0, f.image.shape[1], f.image.shape[0]], np.float32), math.nan)]
                for f in chunk
            ]
            return faces, [f.image for f in chunk]
        t = time.perf_counter()
        faces = self.detector.detect_batch([f.image for f in chunk])
        t2 = time.perf_counter()
        crops = [align_face(f.image, face, self.crop) for f, fs in zip(chunk, faces) for face in fs]
        self.timings["detect"] += t2 - t
        self.timings["align"] += time.perf_counter() - t2
        return faces, crops

    def run_source(self, path: Path, on_frames: Callable[[int], None] | None = None) -> list[dict]:
        """Analyse one image or video and return its table rows.

        Raises
        ------
        InputError
            If the file cannot be read (see :func:`~affectkit.io.media.iter_frames`).
            Its ``partial_rows`` attribute holds the rows of the frames decoded before
            a video broke off.
        """
        rows: list[dict] = []
        try:
            self._run(iter_frames(path, self.every), str(path), rows, on_frames)
        except InputError as exc:
            exc.partial_rows = rows  # frames before the damage are kept
            raise
        return rows

    def _run(self, frames, source: str, rows: list[dict], on_frames) -> None:
        while True:
            t = time.perf_counter()
            chunk = []
            for f in frames:
                chunk.append(f)
                if len(chunk) == self.batch_frames:
                    break
            self.timings["decode"] += time.perf_counter() - t
            if not chunk:
                break
            faces, crops = self._faces(chunk)
            t = time.perf_counter()
            probs, va = self.recognizer.predict_arrays(crops)
            self.timings["model"] += time.perf_counter() - t
            k = 0
            for frame, fs in zip(chunk, faces):
                n = len(fs)
                rows += face_rows(source, frame.index, frame.time_s, fs, probs[k : k + n], va[k : k + n])
                k += n
            self.frames_done += len(chunk)
            if on_frames:
                on_frames(len(chunk))


def analyze(
    inputs: str | Path | Sequence[str | Path],
    *,
    every: int = 1,
    detector: str = "mtcnn",
    faces_cropped: bool = False,
    model: str | Path = "default",
    crop: str = "ng2015",
    tta: bool | str = "flip",
    min_face_size: int = 40,
    on_error: str = "raise",
    progress: bool = False,
) -> pd.DataFrame:
    """Analyse images, folders and videos into one per-frame emotion table.

    Parameters
    ----------
    inputs : path or sequence of paths
        Any mix of image files, folders (searched recursively) and video files.
    every : int
        Analyse every N-th video frame.
    detector : {"mtcnn", "haar"}
        MTCNN (Zhang et al. 2016, default) or Viola-Jones Haar cascades (as Ng et al. 2015).
    faces_cropped : bool
        Each image is one already-cropped face (FER-2013, CK+ style); no detection.
    model : str or Path
        ``"default"`` (bundled) or a ``.safetensors`` file with its model card.
    crop : {"ng2015", "landmark_box", "box"}
        How detected faces are cropped (see :mod:`affectkit.faces.align`).
    tta : {"flip", "multi", "none"} or bool
        Test-time augmentation: mirror averaging (default), mirror plus zooms and
        shifts (10 passes), or none.
    min_face_size : int
        Smallest face the detector looks for, pixels.
    on_error : {"raise", "collect"}
        ``raise`` stops at the first unreadable file; ``collect`` skips it and lists
        ``"path: problem"`` strings in ``df.attrs["errors"]``.
    progress : bool
        Show a progress bar over frames.

    Returns
    -------
    pandas.DataFrame
        The table described in :mod:`affectkit.table`: one row per face per frame,
        and one row with empty face fields for a frame without faces.

    Raises
    ------
    InputError
        A missing path, unsupported format, corrupt/truncated or zero-frame video
        (with ``on_error="raise"``; a missing top-level path always raises).
    WeightsError
        If the model cannot be loaded.
    ValueError
        If an option is out of range.
    """
    from tqdm.auto import tqdm

    if on_error not in ("raise", "collect"):
        raise ValueError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    files = expand_inputs(list(inputs))
    analyzer = Analyzer(
        detector=detector, faces_cropped=faces_cropped, model=model, crop=crop,
        every=every, tta=tta, min_face_size=min_face_size,
    )
    errors: list[str] = []
    rows: list[dict] = []
    total = 0
    if progress:
        for f in files:
            try:
                kind = media_kind(f)
            except InputError:
                continue
            n = video_frame_count(f) if kind == "video" else 1
            total += math.ceil(n / every) if n else 0
    bar = tqdm(total=total or None, unit="frame", disable=not progress, dynamic_ncols=True)
    with bar:
        for path in files:
            try:
                rows += analyzer.run_source(path, on_frames=bar.update)
            except InputError as exc:
                if on_error == "raise":
                    raise
                rows += getattr(exc, "partial_rows", [])
                errors.append(str(exc))
    df = make_table(rows)
    df.attrs["errors"] = errors
    df.attrs["timings_s"] = dict(analyzer.timings)
    df.attrs["frames"] = analyzer.frames_done
    return df
