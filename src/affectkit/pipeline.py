"""``analyze``: the main job, from media paths to the per-frame emotion table.

    media ──► decode ──► detect ──► align ──► recognise ──► track ──► timeline ──► table

Each stage lives in its own module; this one only strings them together, in chunks
of frames so that detection and the network run batched while memory stays bounded
however long a video is: :func:`analyze_to_file` (the command line) streams the
table to disk; :func:`analyze` collects it into a DataFrame. Their options, and the
command line's, are the fields of :class:`AnalyzeOptions`, defined and checked there.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from affectkit.errors import InputError, OptionError, printable
from affectkit.faces.align import CROP_POLICIES, align_face
from affectkit.faces.detect import DETECTORS, create_detector
from affectkit.faces.tracking import Tracker
from affectkit.faces.types import Face
from affectkit.io.media import (DEFAULT_MAX_PIXELS, WORK_PIXELS, Frame, expand_inputs, iter_frames, media_kind,
                                video_frame_count)
from affectkit.io.write import (IMAGE_OUTPUT_SUFFIXES, PLOT_SUFFIXES, VIDEO_OUTPUT_SUFFIXES, StagedOutputs,
                                TableWriter, check_output_path, check_table_path, remove_stale_temps)
from affectkit.models.onnx_face import load_recognizer
from affectkit.models.preprocess import TTA_MODES
from affectkit.table import face_rows, make_table, table_columns
from affectkit.timeline import Timeline


DETECT_INTERVAL_S = 0.1
"""Video time, seconds, between face detections by default (``detect_every=None``): a face
that enters is found within this long, and faces are followed in between."""


def _interval_passed(since_s: float, now_s: float) -> bool:
    """Whether :data:`DETECT_INTERVAL_S` has passed from ``since_s`` to ``now_s`` (seconds).

    True for NaN times (a source without a clock is detected on every frame); 1 µs of
    slack, because frame times are rounded (0.3 - 0.2 < 0.1 in floating point).
    """
    return not (now_s - since_s < DETECT_INTERVAL_S - 1e-6)


def _add_voice(rows, track):
    """Voice and fused columns for rows (:func:`affectkit.audio.voice.add_voice_columns`)."""
    from affectkit.audio.voice import add_voice_columns as add

    return add(rows, track)


ON_ERROR = ("raise", "collect")
"""What :func:`analyze` and :func:`analyze_to_file` do with an unreadable file."""


@dataclass(frozen=True)
class AnalyzeOptions:
    """The options of the main job, defined once for :class:`Analyzer`, :func:`analyze`,
    :func:`analyze_to_file` and ``affectkit analyze``.

    Every option is checked when the object is made, so a bad value fails before any
    model is loaded or file is read. ``dataclasses.replace(options, every=5)`` gives a
    checked copy with one option changed. :func:`analyze` and :func:`analyze_to_file`
    also take the same names as keyword arguments and build this object from them.

    Parameters
    ----------
    every : int
        Analyse every N-th video frame (the others are still decoded); >= 1. Default 1.
    detector : {"mtcnn", "haar"}
        Face detector: MTCNN (Zhang et al. 2016, the default) or Viola-Jones Haar
        cascades (as Ng et al. 2015); see :mod:`affectkit.faces.detect`.
    faces_cropped : bool
        Each image (or video frame) is one already-cropped face (FER-2013, CK+ style);
        no detection is run. Default False.
    model : str or Path
        ``"default"`` (the bundled model) or a face model ``.safetensors`` file with its
        model card. Default ``"default"``.
    crop : {"ng2015", "landmark_box", "box"} or None
        How detected faces are cropped (see :mod:`affectkit.faces.align`); None (the
        default) = the model card's ``crop_policy``, the framing the model was trained on.
    tta : {"flip", "multi", "none"} or bool
        Test-time augmentation in the recognizer: mirror averaging (``"flip"``, the
        default; also True), mirror plus zooms and shifts (``"multi"``, 10 passes), or
        none (``"none"``; also False). Stored as the name.
    min_face_size : int
        Smallest face side the detector looks for, pixels; >= 1. Default 40. Frames
        smaller than this have no-face rows.
    batch_frames : int
        Frames per detection/recognition chunk; >= 1. Default 8 (256 with
        ``faces_cropped``, where a frame is one small face).
    track : bool
        Follow faces across frames and give each person a ``track_id`` (SORT-like
        tracker, Bewley et al. 2016; :mod:`affectkit.faces.tracking`). Default True.
    max_gap : float
        Seconds a face may go undetected and keep its ``track_id``; finite, >= 0.
        Default 1.0.
    smooth : float
        Time constant, seconds, of a per-track causal exponential moving average into
        added ``*_smooth`` columns (raw values kept); finite, >= 0; 0 (the default) =
        off. Needs ``track`` (see :mod:`affectkit.timeline`).
    impute : float
        Fill a track's missing frames in gaps of at most this many seconds with a
        centred moving average of this width (Jin et al. 2019), as rows with
        ``imputed=True``; finite, >= 0; 0 (the default) = off. Needs ``track``. Gaps
        longer than ``max_gap`` end the track and are never filled.
    audio : str or Path or None
        ``"default"`` (the bundled EmoDB voice model) or a voice model file: add
        ``voice_*`` and ``fused_*`` columns from each video's sound (see
        :mod:`affectkit.audio.voice`); None (the default) = off. Videos without an
        audio track, or with a silent one, get empty voice columns and a note.
    max_pixels : int
        Images with more pixels (width x height) than this are refused (a per-file
        error); finite, >= 1; default :data:`~affectkit.io.media.DEFAULT_MAX_PIXELS`
        (100 megapixels). Above :data:`~affectkit.io.media.WORK_PIXELS` (16
        megapixels) images are decoded downscaled for detection, with boxes and
        landmarks in source pixels.
    detect_every : int or None
        How often the face detector runs on a video. None (the default): whenever
        :data:`DETECT_INTERVAL_S` (0.1 s) of video time has passed since the last
        detection (every 3rd frame at 24-30 fps; every analysed frame once they are
        that far apart, e.g. with ``every=5``; live sources by their clock). An integer
        K >= 1: every K-th analysed frame (1 = every frame). In between, the faces are
        followed, as video face trackers do (OpenFace 2.0, Baltrušaitis et al. 2018,
        follows landmarks from frame to frame and detects again when tracking fails).
        With MTCNN, the O-net alone re-finds each face from its box in the frame before
        (fresh box, landmarks and ``face_score``:
        :meth:`~affectkit.faces.mtcnn_onnx.OnnxMTCNN.follow`); with Haar, the cascade
        searches near each face and its eyes are carried with the box
        (:meth:`~affectkit.faces.detect.HaarDetector.follow`).
        A frame where a followed face is lost is detected at once; a face that enters
        appears at the next detection. Each source starts with a detection; images are
        always detected. ``benchmarks/detect_every.py`` measures what it costs against
        detecting on every frame (docs/detect_every.md).
    threads : int
        ONNX Runtime intra-op threads of the detector and the model; >= 0; 0 (the
        default) = one per physical core of the machine (ONNX Runtime's choice). 1
        suits several processes side by side.

    Raises
    ------
    OptionError
        A ``ValueError`` with one line naming the option, for a value out of range or
        not among the allowed ones, or ``smooth``/``impute`` without ``track``.
    """

    every: int = 1
    detector: str = "mtcnn"
    faces_cropped: bool = False
    model: str | Path = "default"
    crop: str | None = None
    tta: bool | str = "flip"
    min_face_size: int = 40
    batch_frames: int = 8
    track: bool = True
    max_gap: float = 1.0
    smooth: float = 0.0
    impute: float = 0.0
    audio: str | Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    detect_every: int | None = None
    threads: int = 0

    def __post_init__(self) -> None:
        if not self.every >= 1:
            raise OptionError("every", f"every must be >= 1, got {self.every}")
        if self.crop is not None and self.crop not in CROP_POLICIES:
            raise OptionError("crop", f"crop must be one of {CROP_POLICIES}, got {self.crop!r}")
        if self.detector not in DETECTORS:
            raise OptionError("detector", f"detector must be one of {DETECTORS}, got {self.detector!r}")
        for name in ("max_gap", "smooth", "impute"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise OptionError(name, f"{name} must be a finite number of seconds >= 0, got {value}")
        if (self.smooth or self.impute) and not self.track:
            raise OptionError("track", "smooth and impute work per track; they need track=True")
        if not (self.max_pixels >= 1 and math.isfinite(self.max_pixels)):
            raise OptionError("max_pixels", f"max_pixels must be a positive number of pixels, got {self.max_pixels}")
        if not self.min_face_size >= 1:
            raise OptionError("min_face_size",
                              f"min_face_size must be a positive number of pixels, got {self.min_face_size}")
        if self.detect_every is not None and (isinstance(self.detect_every, bool) or not isinstance(self.detect_every, int)
                                              or self.detect_every < 1):
            raise OptionError("detect_every", f"detect_every must be None (every {DETECT_INTERVAL_S} s of video) "
                                              f"or an integer >= 1, got {self.detect_every!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise OptionError("threads", f"threads must be an integer >= 0 (0: one per core), got {self.threads!r}")
        if not self.batch_frames >= 1:
            raise OptionError("batch_frames", f"batch_frames must be >= 1, got {self.batch_frames}")
        tta = {True: "flip", False: "none"}[self.tta] if isinstance(self.tta, bool) else self.tta
        if tta not in TTA_MODES:
            raise OptionError("tta", f"tta must be one of {TTA_MODES}, got {self.tta!r}")
        object.__setattr__(self, "tta", tta)
        object.__setattr__(self, "max_pixels", int(self.max_pixels))

    @classmethod
    def of(cls, options: "AnalyzeOptions | None" = None, **changes) -> "AnalyzeOptions":
        """``options`` (default: all defaults) with ``changes``; the one way the
        functions build their options from keyword arguments.

        Raises
        ------
        TypeError
            For a keyword that is not an option, or ``options`` that is not an
            :class:`AnalyzeOptions`.
        OptionError
            As the constructor.
        """
        if options is None:
            return cls(**changes)
        if not isinstance(options, cls):
            raise TypeError(f"options must be an AnalyzeOptions, got {type(options).__name__}")
        return dataclasses.replace(options, **changes) if changes else options


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise OptionError("on_error", f"on_error must be 'raise' or 'collect', got {on_error!r}")


@dataclass
class DetectionSchedule:
    """Where one stream of frames is in ``detect_every``'s cycle.

    Attributes
    ----------
    held : list of Face
        The faces of the frame before (found or followed), in its pixels.
    until_detect : int
        Analysed frames before the next detection (``detect_every`` K); 0 detects the next frame.
    detected_s : float
        Video time, seconds, of the last detection (``detect_every`` None); -inf before the first.
    """

    held: list[Face] = dataclasses.field(default_factory=list)
    until_detect: int = 0
    detected_s: float = -math.inf


class Analyzer:
    """The configured pipeline; build once, then stream sources through it.

    :meth:`iter_tables` yields the table in chunks of whole frames, so a caller that
    writes each chunk out (as ``affectkit analyze`` does) holds a bounded number of
    rows however long a video is; :meth:`run_source` collects one source's rows.

    Parameters
    ----------
    options : AnalyzeOptions, optional
        The options (see :class:`AnalyzeOptions` for each one, its unit, default and
        allowed values); default: all defaults.
    **changes
        :class:`AnalyzeOptions` fields that replace those of ``options``, e.g.
        ``Analyzer(faces_cropped=True)``.

    Attributes
    ----------
    options : AnalyzeOptions
        The options in use.

    Raises
    ------
    OptionError
        If an option is out of range, or ``smooth``/``impute`` are asked for without
        ``track`` (a ``ValueError``).
    WeightsError
        If the model cannot be loaded.
    """

    def __init__(self, options: AnalyzeOptions | None = None, **changes):
        o = self.options = AnalyzeOptions.of(options, **changes)
        # ONNX Runtime (no torch) unless the model is a .safetensors file without its export
        # and torch is installed (see models.onnx_face.load_recognizer)
        # face crops only: the model runs back to back on large batches, where spinning threads pay
        self.recognizer = load_recognizer(o.model, tta=o.tta, threads=o.threads or None, spin=o.faces_cropped)
        self.detector = None if o.faces_cropped else create_detector(o.detector, min_face_size=o.min_face_size,
                                                                     threads=o.threads or None)
        self.detect_every = o.detect_every
        self.schedule = DetectionSchedule()  # where the current source is in detect_every's cycle
        self.detections = 0  # frames the detector ran on (detect_every other than 1)
        self.faces_cropped = o.faces_cropped
        # The card says how the model's training faces were framed (timm's rule: the model
        # file drives its preprocessing); an explicit crop overrides it.
        self.crop = o.crop or self.recognizer.card.get("crop_policy", "ng2015")
        self.every = o.every
        self.batch_frames = 256 if o.faces_cropped else o.batch_frames
        self.track = o.track
        self.max_gap = o.max_gap
        self.smooth = o.smooth
        self.impute = o.impute
        self.audio = o.audio
        self.max_pixels = o.max_pixels
        self.min_face_size = o.min_face_size
        self.columns = table_columns(smooth=o.smooth > 0, audio=o.audio is not None)
        self.notes: list[str] = []
        self.rows_per_table = 512
        self.timings = {"decode": 0.0, "detect": 0.0, "align": 0.0, "model": 0.0}
        self.frames_done = 0
        self.frames_with_face = 0
        self.errors: list[str] = []

    def _faces(self, chunk: list[Frame], schedule: "DetectionSchedule | None" = None
               ) -> tuple[list[list[Face]], list[np.ndarray]]:
        """Faces of each frame (in source pixels) and their crops, in order."""
        if self.detector is None:
            faces = [
                [Face(np.array([0, 0, f.image.shape[1], f.image.shape[0]], np.float32) * f.scale, math.nan)]
                for f in chunk
            ]
            return faces, [f.image for f in chunk]
        t = time.perf_counter()
        if self.detect_every == 1:
            faces = self.detector.detect_batch([f.image for f in chunk])
        else:
            faces = self._detect_some(chunk, schedule if schedule is not None else self.schedule)
        t2 = time.perf_counter()
        crops = [align_face(f.image, face, self.crop) for f, fs in zip(chunk, faces) for face in fs]
        self.timings["detect"] += t2 - t
        self.timings["align"] += time.perf_counter() - t2
        # A large image was decoded downscaled: the table gives source pixels.
        faces = [fs if f.scale == 1.0 else [_scaled(face, f.scale) for face in fs] for f, fs in zip(chunk, faces)]
        return faces, crops

    def _detect_some(self, chunk: list[Frame], sched: "DetectionSchedule") -> list[list[Face]]:
        """Faces of each frame when ``detect_every`` is not 1: detect when due, follow the faces in between.

        A detector with a ``follow`` method (MTCNN: the O-net alone; Haar: the cascade
        near each face) re-finds the faces of the frame before in each frame between
        detections; when one of them is lost, this frame is detected at once and the
        count starts again. A detector without one holds the last faces found, clipped
        to the frame.
        """
        follow = getattr(self.detector, "follow", None)
        if self.detect_every is None and chunk and _interval_passed(sched.detected_s, chunk[0].time_s) \
                and all(_interval_passed(a.time_s, b.time_s) for a, b in zip(chunk, chunk[1:])):
            # frames at least the interval apart (e.g. every=5) are all due: one batch, as detect_every=1
            faces = self.detector.detect_batch([f.image for f in chunk])
            sched.held, sched.detected_s = faces[-1], chunk[-1].time_s
            self.detections += len(chunk)
            return faces
        faces = []
        for f in chunk:
            if self.detect_every is None:
                due = _interval_passed(sched.detected_s, f.time_s)
            else:
                due = sched.until_detect <= 0
            if not due and follow is not None:
                found = follow(f.image, sched.held)
                due = len(found) < len(sched.held)  # a face was lost (left, turned, moved too far): look again now
                sched.held = sched.held if due else found
            if due:
                sched.held = self.detector.detect_batch([f.image])[0]
                sched.until_detect = self.detect_every or 0
                sched.detected_s = f.time_s
                self.detections += 1
            sched.until_detect -= 1
            # a held box is clipped to this frame (frames of a source may differ in size)
            faces.append(sched.held if follow is not None else [_clipped(face, f.image.shape) for face in sched.held])
        return faces

    def reset_source(self) -> None:
        """Start ``detect_every``'s cycle again: the next frame is detected (a new source starts)."""
        self.schedule = DetectionSchedule()

    def frame_rows(self, frames: Sequence[Frame], source: str, tracker: Tracker | None = None,
                   schedule: "DetectionSchedule | None" = None) -> list[list[dict]]:
        """Detect, recognise and (with ``tracker``) track the faces of decoded frames.

        The step of :meth:`iter_source` for one chunk, also used on frames that come
        from elsewhere than a file (the live page of ``affectkit serve``).

        Parameters
        ----------
        frames : sequence of Frame
            RGB ``uint8`` ``(H, W, 3)`` images with their index and time (seconds).
        source : str
            The ``source`` column of the rows.
        tracker : Tracker, optional
            Gives ``track_id``; it keeps its state between calls (frames in time order).
        schedule : DetectionSchedule, optional
            The ``detect_every`` state of this stream of frames (several streams through
            one analyzer keep one each); default the analyzer's own, which
            :meth:`reset_source` restarts.

        Returns
        -------
        list of list of dict
            For each frame, its rows (one per face, or one no-face row); see
            :mod:`affectkit.table`.
        """
        faces, crops = self._faces(list(frames), schedule)
        t = time.perf_counter()
        probs, va = self.recognizer.predict_arrays(crops)
        self.timings["model"] += time.perf_counter() - t
        out = []
        k = 0
        for frame, fs in zip(frames, faces):
            n = len(fs)
            ids = tracker.update(frame.time_s, np.array([face.box for face in fs]).reshape(n, 4)) if tracker else None
            out.append(face_rows(source, frame.index, frame.time_s, fs, probs[k : k + n], va[k : k + n], ids))
            k += n
            self.frames_with_face += n > 0
        return out

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
        self.reset_source()
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
                out: list[dict] = []
                for frame, rows in zip(chunk, self.frame_rows(chunk, source, tracker)):
                    out += timeline.push(frame.time_s, rows) if timeline else rows
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
        _check_on_error(on_error)
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


def _clipped(face: Face, shape: tuple[int, ...]) -> Face:
    """``face`` with its box clipped to a frame of ``shape`` ``(H, W, ...)`` (unchanged when it fits)."""
    h, w = shape[:2]
    x, y, bw, bh = (float(v) for v in face.box)
    x2, y2 = min(x + bw, w), min(y + bh, h)
    x, y = max(x, 0.0), max(y, 0.0)
    if (x, y, x2 - x, y2 - y) == tuple(float(v) for v in face.box):
        return face
    return Face(np.array([x, y, max(x2 - x, 1.0), max(y2 - y, 1.0)], np.float32), face.score, face.landmarks)


def _fields_doc() -> str:
    """The Parameters section of :class:`AnalyzeOptions`, for the functions that take its fields."""
    doc = AnalyzeOptions.__doc__
    body = doc[doc.index("----------\n", doc.index("Parameters")) + len("----------\n"): doc.index("\n\n    Raises")]
    return body.strip()


_CALL_DOC = """options : AnalyzeOptions, optional
        All the options at once (default: every option at its default); the keyword
        arguments below replace its fields. Each keyword is an :class:`AnalyzeOptions`
        field:
    {fields}
    on_error : {{"raise", "collect"}}
        ``raise`` stops at the first unreadable file; ``collect`` skips it and lists
        ``"path: problem"`` strings (in ``df.attrs["errors"]`` / the summary).
    progress : bool
        Show a progress bar over frames."""


class _NoBar:
    """What :func:`_start` gives without a progress bar: tqdm (30 ms to import) is not loaded."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        pass


def _start(files: list[Path], progress: bool, options: AnalyzeOptions):
    analyzer = Analyzer(options)
    if not progress:
        return analyzer, _NoBar()
    from tqdm.auto import tqdm

    total = 0
    for f in files:
        try:
            kind = media_kind(f)
        except InputError:
            continue
        n = video_frame_count(f) if kind == "video" else 1
        total += math.ceil(n / analyzer.every) if n else 0
    bar = tqdm(total=total or None, unit="frame", dynamic_ncols=True)
    return analyzer, bar


def _files(inputs) -> list[Path]:
    """``inputs`` (one path or several) expanded to media files (see :func:`~affectkit.io.media.expand_inputs`)."""
    return expand_inputs([inputs] if isinstance(inputs, (str, Path)) else list(inputs))


def analyze(
    inputs: str | Path | Sequence[str | Path],
    options: AnalyzeOptions | None = None,
    *,
    on_error: str = "raise",
    progress: bool = False,
    **changes,
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
    OptionError
        If an option is out of range (a ``ValueError``), before any file is read.
    TypeError
        For a keyword that is not an option.
    """
    options = AnalyzeOptions.of(options, **changes)
    _check_on_error(on_error)
    files = _files(inputs)
    analyzer, bar = _start(files, progress, options)
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
    options: AnalyzeOptions | None = None,
    *,
    plot: str | Path | None = None,
    annotate: str | Path | None = None,
    circumplex: str | Path | None = None,
    correlation: str | Path | None = None,
    on_error: str = "raise",
    progress: bool = False,
    **changes,
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
    circumplex : str or Path, optional
        Also draw the faces on the valence-arousal plane, each track's path as a line
        (:func:`affectkit.viz.plot_circumplex`): ``.png``, ``.pdf`` or ``.svg``.
    correlation : str or Path, optional
        Also draw the correlations of the per-frame scores
        (:func:`affectkit.viz.plot_expression_correlation`), as in Jin et al. 2019's
        feature analysis: ``.png``, ``.pdf`` or ``.svg``.
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
        other than exactly one input file; naming the picture, when the table has too
        few faces to draw it (nothing is written then).
    WeightsError
        If the model cannot be loaded.
    OptionError
        If an option is out of range (a ``ValueError``), before any file is read.
    TypeError
        For a keyword that is not an option.
    """
    options = AnalyzeOptions.of(options, **changes)
    _check_on_error(on_error)
    files = _files(inputs)
    pictures = {k: v for k, v in (("plot", plot), ("circumplex", circumplex), ("correlation", correlation))
                if v is not None}
    outputs = _check_outputs(output, pictures, annotate, files)
    for folder in {p.parent for p in outputs}:
        remove_stale_temps(folder)  # left by runs that were killed outright
    analyzer, bar = _start(files, progress, options)
    written: list[Path] = []
    with bar, StagedOutputs(outputs) as staged, TableWriter(output, staged=staged) as writer:
        for chunk in analyzer.iter_tables(files, on_error, on_frames=bar.update):
            writer.write(chunk)
        if writer.rows:
            table = writer.commit()
            if pictures or annotate is not None:
                from affectkit.table import read_table

                df = read_table(table)
            if pictures:
                from affectkit import viz

                draw = {"plot": viz.plot_table, "circumplex": viz.plot_circumplex,
                        "correlation": viz.plot_expression_correlation}
                for kind, path in pictures.items():
                    try:
                        draw[kind](df, staged.temp(path))
                    except ValueError as exc:  # e.g. no face to draw: say which picture, write nothing
                        raise InputError(path, f"{exc}; nothing was written") from None
            if annotate is not None:
                from affectkit.viz import annotate as write_annotated

                write_annotated(df, str(files[0]), staged.temp(annotate))
            written = staged.commit()
    return {
        "path": Path(output) if written else None, "outputs": written, "rows": writer.rows,
        "frames": analyzer.frames_done, "frames_with_face": analyzer.frames_with_face, "errors": analyzer.errors,
        "notes": analyzer.notes, "timings_s": dict(analyzer.timings),
    }


def _check_outputs(output, pictures: dict, annotate, files: list[Path]) -> list[Path]:
    """Validate every output of :func:`analyze_to_file` before any work; returns them."""
    outputs = [check_table_path(output)]
    for kind, path in pictures.items():
        outputs.append(check_output_path(path, PLOT_SUFFIXES, kind))
    if annotate is not None:
        if len(files) != 1:
            raise InputError(annotate, f"--annotate needs exactly one input file, got {len(files)}")
        kind = media_kind(files[0])
        allowed = VIDEO_OUTPUT_SUFFIXES if kind == "video" else IMAGE_OUTPUT_SUFFIXES
        outputs.append(check_output_path(annotate, allowed, f"annotated {kind}"))
    resolved = [p.resolve() for p in outputs]
    if len(set(resolved)) < len(resolved):
        raise InputError(outputs[-1], "the table, pictures and annotated outputs must be different files")
    inputs = {f.resolve() for f in files}
    for p, r in zip(outputs, resolved):
        if r in inputs:
            raise InputError(p, "is also an input; writing it would overwrite the input")
    return outputs


# The two functions take AnalyzeOptions' fields as keywords; their docstrings list them
# from its docstring, so each option is described once.
analyze.__doc__ = analyze.__doc__.replace("{options}", _CALL_DOC.format(fields=_fields_doc()))
analyze_to_file.__doc__ = analyze_to_file.__doc__.replace("{options}", _CALL_DOC.format(fields=_fields_doc()))
