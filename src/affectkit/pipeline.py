"""``analyze``: the main job, from media paths to the per-frame emotion table.

    media ──► decode ──► detect ──► align ──► recognise ──► track ──► timeline ──► table

Each stage lives in its own module; this one only strings them together, in chunks
of frames so that detection and the network run batched while memory stays bounded
however long a video is: :func:`analyze_to_file` (the command line) streams the
table to disk; :func:`analyze` collects it into a DataFrame.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from affectkit.errors import InputError, printable
from affectkit.faces.align import CROP_POLICIES, align_face
from affectkit.faces.detect import DETECTORS, create_detector
from affectkit.faces.tracking import Tracker
from affectkit.faces.types import Face
from affectkit.io.media import (DEFAULT_MAX_PIXELS, WORK_PIXELS, Frame, expand_inputs, iter_frames, media_kind,
                                video_frame_count)
from affectkit.io.write import (IMAGE_OUTPUT_SUFFIXES, PLOT_SUFFIXES, VIDEO_OUTPUT_SUFFIXES, StagedOutputs,
                                TableWriter, check_output_path, check_table_path, remove_stale_temps)
from affectkit.models.recognizer import Recognizer
from affectkit.table import face_rows, make_table, table_columns
from affectkit.timeline import Timeline


def _add_voice(rows, track):
    """Voice and fused columns for rows (:func:`affectkit.audio.voice.add_voice_columns`)."""
    from affectkit.audio.voice import add_voice_columns as add

    return add(rows, track)


class Analyzer:
    """The configured pipeline; build once, then stream sources through it.

    :meth:`iter_tables` yields the table in chunks of whole frames, so a caller that
    writes each chunk out (as ``affectkit analyze`` does) holds a bounded number of
    rows however long a video is; :meth:`run_source` collects one source's rows.

    Parameters
    ----------
    detector : {"mtcnn", "haar"}
        Face detector (see :mod:`affectkit.faces.detect`).
    faces_cropped : bool
        Treat every image (or video frame) as one already-cropped face, as in
        FER-2013 or CK+; no detection is run.
    model : str or Path
        Bundled model name or ``.safetensors`` path.
    crop : {"ng2015", "landmark_box", "box"} or None
        Crop policy (see :mod:`affectkit.faces.align`); None = the model card's
        ``crop_policy``, the framing the model was trained on.
    every : int
        Analyse every N-th video frame.
    tta : {"flip", "multi", "none"} or bool
        Test-time augmentation in the recognizer (see :class:`Recognizer`).
    min_face_size : int
        Smallest face side the detector looks for, pixels.
    batch_frames : int
        Frames per detection/recognition chunk.
    track : bool
        Give faces a ``track_id`` across frames (:class:`~affectkit.faces.tracking.Tracker`).
    max_gap : float
        Seconds a face may go undetected and keep its ``track_id``.
    smooth : float
        Time constant, seconds, of the per-track smoothing; 0 = off
        (see :mod:`affectkit.timeline`).
    impute : float
        Longest gap, seconds, filled per track with a moving average; 0 = off. A gap
        longer than ``max_gap`` ends the track, so it is never filled.
    audio : str or Path, optional
        Voice model (``"default"`` or an audio ``.safetensors``): add the voice and
        fused columns for videos with sound (:mod:`affectkit.audio.voice`). Videos
        without an audio track, or with a silent one, get empty voice columns and a
        line in :attr:`notes`.
    max_pixels : int
        Images with more pixels than this are refused (a per-file error); larger
        than :data:`~affectkit.io.media.WORK_PIXELS` they are decoded downscaled for
        detection, with boxes and landmarks in the original pixels.

    Raises
    ------
    ValueError
        If an option is out of range, or ``smooth``/``impute`` are asked for without
        ``track``.
    WeightsError
        If the model cannot be loaded.
    """

    def __init__(
        self,
        *,
        detector: str = "mtcnn",
        faces_cropped: bool = False,
        model: str | Path = "default",
        crop: str | None = None,
        every: int = 1,
        tta: bool | str = "flip",
        min_face_size: int = 40,
        batch_frames: int = 8,
        track: bool = True,
        max_gap: float = 1.0,
        smooth: float = 0.0,
        impute: float = 0.0,
        audio: str | Path | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if crop is not None and crop not in CROP_POLICIES:
            raise ValueError(f"crop must be one of {CROP_POLICIES}, got {crop!r}")
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
        for name, value in (("max_gap", max_gap), ("smooth", smooth), ("impute", impute)):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value}")
        if (smooth or impute) and not track:
            raise ValueError("smooth and impute work per track; they need track=True")
        if not max_pixels >= 1:
            raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
        if min_face_size < 1:
            raise ValueError(f"min_face_size must be a positive number of pixels, got {min_face_size}")
        self.recognizer = Recognizer(model, tta=tta)
        self.detector = None if faces_cropped else create_detector(detector, min_face_size=min_face_size)
        self.faces_cropped = faces_cropped
        # The card says how the model's training faces were framed (timm's rule: the model
        # file drives its preprocessing); an explicit crop overrides it.
        self.crop = crop or self.recognizer.card.get("crop_policy", "ng2015")
        self.every = every
        self.batch_frames = 256 if faces_cropped else batch_frames
        self.track = track
        self.max_gap = max_gap
        self.smooth = smooth
        self.impute = impute
        self.audio = audio
        self.max_pixels = int(max_pixels)
        self.min_face_size = min_face_size
        self.columns = table_columns(smooth=smooth > 0, audio=audio is not None)
        self.notes: list[str] = []
        self.rows_per_table = 512
        self.timings = {"decode": 0.0, "detect": 0.0, "align": 0.0, "model": 0.0}
        self.frames_done = 0
        self.frames_with_face = 0
        self.errors: list[str] = []

    def _faces(self, chunk: list[Frame]) -> tuple[list[list[Face]], list[np.ndarray]]:
        """Faces of each frame (in source pixels) and their crops, in order."""
        if self.detector is None:
            faces = [
                [Face(np.array([0, 0, f.image.shape[1], f.image.shape[0]], np.float32) * f.scale, math.nan)]
                for f in chunk
            ]
            return faces, [f.image for f in chunk]
        t = time.perf_counter()
        faces = self.detector.detect_batch([f.image for f in chunk])
        t2 = time.perf_counter()
        crops = [align_face(f.image, face, self.crop) for f, fs in zip(chunk, faces) for face in fs]
        self.timings["detect"] += t2 - t
        self.timings["align"] += time.perf_counter() - t2
        # A large image was decoded downscaled: the table gives source pixels.
        faces = [fs if f.scale == 1.0 else [_scaled(face, f.scale) for face in fs] for f, fs in zip(chunk, faces)]
        return faces, crops

    def iter_source(self, path: Path, on_frames: Callable[[int], None] | None = None) -> Iterator[list[dict]]:
        """Analyse one image or video, yielding its rows a few frames at a time.

        Yields
        ------
        list of dict
            Rows of whole frames, in frame order (see :mod:`affectkit.table`).

        Raises
        ------
        InputError
            If the file cannot be read (see :func:`~affectkit.io.media.iter_frames`).
            A video that breaks off raises after the rows of the frames before the damage.
        """
        source = printable(path)  # the table holds valid UTF-8 on one line (see errors.printable)
        voice = self._voice(path)
        tracker = Tracker(self.max_gap) if self.track else None
        timeline = Timeline(self.smooth, self.impute) if (self.smooth or self.impute) else None
        small = 0  # frames too small to hold a face of min_face_size
        scaled = 1.0
        try:
            frames = iter_frames(path, self.every, max_pixels=self.max_pixels)
            broken: InputError | None = None
            while broken is None:
                t = time.perf_counter()
                chunk: list[Frame] = []
                try:
                    for f in frames:
                        chunk.append(f)
                        if len(chunk) == self.batch_frames:
                            break
                except InputError as exc:  # analyse the frames before the damage, then raise
                    broken = exc
                self.timings["decode"] += time.perf_counter() - t
                if not chunk:
                    break
                if self.detector is not None:
                    small += sum(min(f.image.shape[:2]) < self.min_face_size for f in chunk)
                scaled = max(scaled, max(f.scale for f in chunk))
                faces, crops = self._faces(chunk)
                t = time.perf_counter()
                probs, va = self.recognizer.predict_arrays(crops)
                self.timings["model"] += time.perf_counter() - t
                out: list[dict] = []
                k = 0
                for frame, fs in zip(chunk, faces):
                    n = len(fs)
                    ids = tracker.update(frame.time_s, np.array([face.box for face in fs]).reshape(n, 4)) if tracker else None
                    rows = face_rows(source, frame.index, frame.time_s, fs, probs[k : k + n], va[k : k + n], ids)
                    out += timeline.push(frame.time_s, rows) if timeline else rows
                    k += n
                    self.frames_with_face += n > 0
                if self.audio is not None:
                    _add_voice(out, voice)
                self.frames_done += len(chunk)
                if on_frames:
                    on_frames(len(chunk))
                if out:
                    yield out
            if broken is not None:
                raise broken
        except InputError:
            if timeline and (rest := timeline.flush()):
                yield _add_voice(rest, voice) if self.audio is not None else rest  # frames before the damage are kept
            raise
        finally:
            if small:
                self.notes.append(f"{printable(source)}: {small} frame(s) smaller than the minimum face size "
                                  f"({self.min_face_size} px) cannot hold a face; they have no-face rows")
            if scaled > 1.0:
                self.notes.append(f"{printable(source)}: decoded at 1/{scaled:.2g} scale for detection "
                                  f"(above {WORK_PIXELS / 1e6:.0f} megapixels); boxes are in source pixels")
        if timeline and (rest := timeline.flush()):
            yield _add_voice(rest, voice) if self.audio is not None else rest

    def _voice(self, path: Path):
        """The voice track of a video when ``audio`` is on, else None (images have no sound)."""
        if self.audio is None or media_kind(path) != "video":
            return None
        from affectkit.audio.voice import VoiceTrack

        t = time.perf_counter()
        track = VoiceTrack(path, self.audio)
        self.timings["voice"] = self.timings.get("voice", 0.0) + time.perf_counter() - t
        if track.note:  # no track, silence, or how much of the sound is speech
            self.notes.append(f"{printable(path)}: {track.note}")
        return track

    def run_source(self, path: Path, on_frames: Callable[[int], None] | None = None) -> list[dict]:
        """Analyse one image or video and return its table rows.

        Raises
        ------
        InputError
            As :meth:`iter_source`. Its ``partial_rows`` attribute holds the rows of
            the frames decoded before a video broke off.
        """
        rows: list[dict] = []
        try:
            for part in self.iter_source(path, on_frames):
                rows += part
        except InputError as exc:
            exc.partial_rows = rows
            raise
        return rows

    def iter_tables(self, files: Sequence[Path], on_error: str = "raise",
                    on_frames: Callable[[int], None] | None = None) -> Iterator[pd.DataFrame]:
        """Analyse files one after another, yielding the table in chunks.

        Parameters
        ----------
        files : sequence of Path
            Media files (see :func:`~affectkit.io.media.expand_inputs`).
        on_error : {"raise", "collect"}
            ``collect`` skips an unreadable file (keeping the rows it gave before
            breaking off) and appends ``"path: problem"`` to :attr:`errors`.
        on_frames : callable, optional
            Called with the number of frames analysed after each batch.

        Yields
        ------
        pandas.DataFrame
            Chunks of the table (columns :attr:`columns`, dtypes of
            :func:`~affectkit.table.make_table`), each holding whole frames.

        Raises
        ------
        InputError
            With ``on_error="raise"``, for the first unreadable file.
        """
        if on_error not in ("raise", "collect"):
            raise ValueError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
        # Rows are gathered across sources into chunks of ~rows_per_table: building a
        # DataFrame per image would cost more than analysing a cropped face.
        pending: list[dict] = []
        for path in files:
            try:
                for rows in self.iter_source(path, on_frames):
                    pending += rows
                    if len(pending) >= self.rows_per_table:
                        yield make_table(pending, self.columns)
                        pending = []
            except InputError as exc:
                if on_error == "raise":
                    if pending:
                        yield make_table(pending, self.columns)
                    raise
                self.errors.append(str(exc))
        if pending:
            yield make_table(pending, self.columns)


def _scaled(face: Face, k: float) -> Face:
    """``face`` with its box and landmarks multiplied by ``k`` (to source pixels)."""
    return Face(face.box * np.float32(k), face.score, None if face.landmarks is None else face.landmarks * np.float32(k))


_OPTIONS_DOC = """every : int
        Analyse every N-th video frame (the others are still decoded).
    detector : {"mtcnn", "haar"}
        MTCNN (Zhang et al. 2016, default) or Viola-Jones Haar cascades (as Ng et al. 2015).
    faces_cropped : bool
        Each image is one already-cropped face (FER-2013, CK+ style); no detection.
    model : str or Path
        ``"default"`` (bundled) or a ``.safetensors`` file with its model card.
    crop : {"ng2015", "landmark_box", "box"} or None
        How detected faces are cropped (see :mod:`affectkit.faces.align`); None = the
        model card's ``crop_policy``.
    tta : {"flip", "multi", "none"} or bool
        Test-time augmentation: mirror averaging (default), mirror plus zooms and
        shifts (10 passes), or none.
    min_face_size : int
        Smallest face the detector looks for, pixels.
    track : bool
        Follow faces across frames and give each person a ``track_id`` (SORT-like
        tracker, Bewley et al. 2016; see :mod:`affectkit.faces.tracking`).
    max_gap : float
        Seconds a face may go undetected and keep its ``track_id``.
    smooth : float
        Per-track causal exponential moving average with this time constant, seconds,
        into added ``*_smooth`` columns (raw values kept); 0 = off.
    impute : float
        Fill a track's missing frames in gaps of at most this many seconds with a
        centred moving average of this width (Jin et al. 2019), as rows with
        ``imputed=True``; 0 = off. Gaps longer than ``max_gap`` end the track and
        are never filled.
    audio : str or Path, optional
        ``"default"`` (the bundled EmoDB voice model) or an audio model file: add
        ``voice_*`` and ``fused_*`` columns from the video's sound (see
        :mod:`affectkit.audio.voice`); None = off.
    max_pixels : int
        Refuse images with more pixels (a per-file error); above about 16 megapixels
        images are decoded downscaled for detection, boxes in source pixels.
    on_error : {"raise", "collect"}
        ``raise`` stops at the first unreadable file; ``collect`` skips it and lists
        ``"path: problem"`` strings (in ``df.attrs["errors"]`` / the summary).
    progress : bool
        Show a progress bar over frames."""


def _start(inputs, on_error: str, progress: bool, options: dict):
    from tqdm.auto import tqdm

    if on_error not in ("raise", "collect"):
        raise ValueError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    files = expand_inputs(list(inputs))  # a list of files passes through unchanged
    analyzer = Analyzer(**options)
    total = 0
    if progress:
        for f in files:
            try:
                kind = media_kind(f)
            except InputError:
                continue
            n = video_frame_count(f) if kind == "video" else 1
            total += math.ceil(n / analyzer.every) if n else 0
    bar = tqdm(total=total or None, unit="frame", disable=not progress, dynamic_ncols=True)
    return files, analyzer, bar


def analyze(
    inputs: str | Path | Sequence[str | Path],
    *,
    every: int = 1,
    detector: str = "mtcnn",
    faces_cropped: bool = False,
    model: str | Path = "default",
    crop: str | None = None,
    tta: bool | str = "flip",
    min_face_size: int = 40,
    track: bool = True,
    max_gap: float = 1.0,
    smooth: float = 0.0,
    impute: float = 0.0,
    audio: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_error: str = "raise",
    progress: bool = False,
) -> pd.DataFrame:
    """Analyse images, folders and videos into one per-frame emotion table.

    The table is held in memory (O(rows)); for long videos, :func:`analyze_to_file`
    streams it to disk instead.

    Parameters
    ----------
    inputs : path or sequence of paths
        Any mix of image files, folders (searched recursively) and video files.
    {options}

    Returns
    -------
    pandas.DataFrame
        The table described in :mod:`affectkit.table`: one row per face per frame,
        and one row with empty face fields for a frame without faces.
        ``df.attrs`` holds ``errors``, ``timings_s`` and ``frames``.

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
    files, analyzer, bar = _start(inputs, on_error, progress, dict(
        detector=detector, faces_cropped=faces_cropped, model=model, crop=crop, every=every, tta=tta,
        min_face_size=min_face_size, track=track, max_gap=max_gap, smooth=smooth, impute=impute, audio=audio,
        max_pixels=max_pixels,
    ))
    with bar:
        chunks = list(analyzer.iter_tables(files, on_error, on_frames=bar.update))
    df = pd.concat(chunks, ignore_index=True) if chunks else make_table([], analyzer.columns)
    df.attrs["errors"] = analyzer.errors
    df.attrs["notes"] = analyzer.notes
    df.attrs["timings_s"] = dict(analyzer.timings)
    df.attrs["frames"] = analyzer.frames_done
    return df


def analyze_to_file(
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    plot: str | Path | None = None,
    annotate: str | Path | None = None,
    every: int = 1,
    detector: str = "mtcnn",
    faces_cropped: bool = False,
    model: str | Path = "default",
    crop: str | None = None,
    tta: bool | str = "flip",
    min_face_size: int = 40,
    track: bool = True,
    max_gap: float = 1.0,
    smooth: float = 0.0,
    impute: float = 0.0,
    audio: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_error: str = "raise",
    progress: bool = False,
) -> dict:
    """Analyse media straight into a table file, without holding the table in memory.

    The same rows as :func:`analyze`, written chunk by chunk (CSV appended, Parquet
    row groups, JSON records) into a temporary file. Every output (the table, and the
    plot and annotated copy when asked for) is validated before any work starts, and
    all are renamed into place together at the end, only when every one of them was
    written. If no row at all could be made (every input failed, with
    ``on_error="collect"``), or anything fails or is interrupted, nothing is written
    and existing files are kept. This is what ``affectkit analyze`` runs.

    Parameters
    ----------
    inputs : path or sequence of paths
        Any mix of image files, folders (searched recursively) and video files.
    output : str or Path
        ``.csv``, ``.parquet`` or ``.json``.
    plot : str or Path, optional
        Also draw the table (:func:`affectkit.viz.plot_table`): ``.png``, ``.pdf`` or ``.svg``.
    annotate : str or Path, optional
        Also write a copy of the single input with boxes and predictions drawn
        (:func:`affectkit.viz.annotate`): ``.mp4`` for a video, an image suffix for an image.
    {options}

    Returns
    -------
    dict
        ``path`` (the table, or None if nothing was written), ``outputs`` (every file
        written), ``rows``, ``frames`` (analysed), ``frames_with_face``, ``errors``
        (list of ``"path: problem"``), ``notes``, ``timings_s``.

    Raises
    ------
    InputError
        As :func:`analyze`, and, before any work, for an output of the wrong format,
        in a missing or read-only folder, or that is a folder; for ``annotate`` with
        other than exactly one input file.
    WeightsError
        If the model cannot be loaded.
    ValueError
        If an option is out of range.
    """
    files = expand_inputs([inputs] if isinstance(inputs, (str, Path)) else list(inputs))
    outputs = _check_outputs(output, plot, annotate, files)
    for folder in {p.parent for p in outputs}:
        remove_stale_temps(folder)  # left by runs that were killed outright
    files, analyzer, bar = _start(files, on_error, progress, dict(
        detector=detector, faces_cropped=faces_cropped, model=model, crop=crop, every=every, tta=tta,
        min_face_size=min_face_size, track=track, max_gap=max_gap, smooth=smooth, impute=impute, audio=audio,
        max_pixels=max_pixels,
    ))
    written: list[Path] = []
    with bar, StagedOutputs(outputs) as staged, TableWriter(output, staged=staged) as writer:
        for chunk in analyzer.iter_tables(files, on_error, on_frames=bar.update):
            writer.write(chunk)
        if writer.rows:
            table = writer.commit()
            if plot is not None or annotate is not None:
                from affectkit.table import read_table

                df = read_table(table)
            if plot is not None:
                from affectkit.viz import plot_table

                plot_table(df, staged.temp(plot))
            if annotate is not None:
                from affectkit.viz import annotate as write_annotated

                write_annotated(df, str(files[0]), staged.temp(annotate))
            written = staged.commit()
    return {
        "path": Path(output) if written else None, "outputs": written, "rows": writer.rows,
        "frames": analyzer.frames_done, "frames_with_face": analyzer.frames_with_face, "errors": analyzer.errors,
        "notes": analyzer.notes, "timings_s": dict(analyzer.timings),
    }


def _check_outputs(output, plot, annotate, files: list[Path]) -> list[Path]:
    """Validate every output of :func:`analyze_to_file` before any work; returns them."""
    outputs = [check_table_path(output)]
    if plot is not None:
        outputs.append(check_output_path(plot, PLOT_SUFFIXES, "plot"))
    if annotate is not None:
        if len(files) != 1:
            raise InputError(annotate, f"--annotate needs exactly one input file, got {len(files)}")
        kind = media_kind(files[0])
        allowed = VIDEO_OUTPUT_SUFFIXES if kind == "video" else IMAGE_OUTPUT_SUFFIXES
        outputs.append(check_output_path(annotate, allowed, f"annotated {kind}"))
    resolved = [p.resolve() for p in outputs]
    if len(set(resolved)) < len(resolved):
        raise InputError(outputs[-1], "the table, plot and annotated outputs must be different files")
    inputs = {f.resolve() for f in files}
    for p, r in zip(outputs, resolved):
        if r in inputs:
            raise InputError(p, "is also an input; writing it would overwrite the input")
    return outputs


# The two functions take the same options; their docstrings share one description.
analyze.__doc__ = analyze.__doc__.replace("{options}", _OPTIONS_DOC)
analyze_to_file.__doc__ = analyze_to_file.__doc__.replace("{options}", _OPTIONS_DOC)
