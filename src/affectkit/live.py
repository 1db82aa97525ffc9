"""``affectkit live``: the main job on a live source, in real time.

    source ──► grabber thread (keeps only the newest frame) ──► detect ──► recognise ──► track ──► results

A source is a camera index (``0``), a device path (``/dev/video0``), a stream URL
(``rtsp://``, ``http://``; OpenCV's FFmpeg backend) or a video file, which is played at
its own frame rate as if it were a camera. The policy is real time: when the analysis
falls behind, frames are **dropped, never queued**. A grabber thread reads the source
continuously and keeps only the newest frame; the analysis takes that frame when it is
ready for the next one, so the delay between a frame's capture and its result stays
bounded (one analysis step) however slow the machine is. Every grabbed frame that was
replaced before the analysis took it counts as dropped. :func:`live` yields one
:class:`LiveResult` per analysed frame; :class:`LiveStats` sums them up.
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from affectkit.errors import InputError, OptionError, printable
from affectkit.faces.tracking import Tracker
from affectkit.io.media import Frame
from affectkit.pipeline import AnalyzeOptions, Analyzer
from affectkit.timeline import Timeline

STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")
"""Source strings opened as network streams."""


def source_kind(source: int | str | Path) -> str:
    """``"camera"`` (an index), ``"device"`` (``/dev/...``), ``"stream"`` (a URL) or ``"file"``.

    Raises
    ------
    InputError
        If ``source`` is none of these (e.g. a path that does not exist).
    """
    text = str(source)
    if isinstance(source, int) or text.isdigit():
        return "camera"
    if text.lower().startswith(STREAM_PREFIXES):
        return "stream"
    if text.startswith("/dev/"):
        return "device"
    path = Path(text)
    if path.is_file():
        return "file"
    raise InputError(text, "not a camera index, device, stream URL or video file")


class LatestFrame:
    """A one-frame slot: :meth:`put` replaces what is there (counting a drop), :meth:`take` waits.

    The real-time policy: a frame that the analysis has not taken when the next one
    arrives is dropped, never queued.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: tuple[Frame, float] | None = None
        self.grabbed = 0
        self.dropped = 0
        self.closed = False

    def put(self, frame: Frame, stamp: float) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = (frame, stamp)
            self.grabbed += 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> tuple[Frame, float] | None:
        """The newest frame and its capture time (``time.perf_counter``), or None once closed and empty."""
        with self._cond:
            end = None if timeout is None else time.perf_counter() + timeout
            while self._item is None and not self.closed:
                left = None if end is None else end - time.perf_counter()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            item, self._item = self._item, None
            return item


def _file_frames(path: Path, stop: threading.Event) -> Iterator[Frame]:
    """A video file's frames at its own frame rate (wall clock), as a camera would give them."""
    from affectkit.io.media import iter_video

    t0 = time.perf_counter()
    for frame in iter_video(path):
        if stop.is_set():
            return
        t = frame.time_s if math.isfinite(frame.time_s) else 0.0
        wait = t0 + t - time.perf_counter()
        if wait > 0:
            stop.wait(wait)
        yield frame


def _capture_frames(source: int | str, stop: threading.Event) -> Iterator[Frame]:
    """Frames of a camera, device or stream through OpenCV, timed by the wall clock."""
    import cv2

    cap = cv2.VideoCapture(int(source) if str(source).isdigit() else str(source))
    if not cap.isOpened():
        raise InputError(str(source), "cannot be opened as a camera or stream")
    t0 = time.perf_counter()
    index = 0
    try:
        while not stop.is_set():
            ok, bgr = cap.read()
            if not ok:
                return
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, time.perf_counter() - t0)
            index += 1
    finally:
        cap.release()


class Grabber(threading.Thread):
    """Reads a source continuously into a :class:`LatestFrame` (daemon thread).

    Attributes
    ----------
    slot : LatestFrame
    error : Exception or None
        What stopped the source early, if anything.
    fps : float or None
        The file's frame rate (None for live sources).
    """

    def __init__(self, source: int | str | Path):
        super().__init__(daemon=True, name="affectkit-grabber")
        self.kind = source_kind(source)
        self.source = source
        self.slot = LatestFrame()
        self.stop_event = threading.Event()
        self.error: Exception | None = None
        self.fps = _file_fps(Path(source)) if self.kind == "file" else None

    def run(self) -> None:
        try:
            frames = (_file_frames(Path(self.source), self.stop_event) if self.kind == "file"
                      else _capture_frames(self.source, self.stop_event))
            for frame in frames:
                self.slot.put(frame, time.perf_counter())
        except Exception as exc:  # reported by live() in the caller's thread
            self.error = exc
        finally:
            self.slot.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.slot.close()


def _file_fps(path: Path) -> float | None:
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as c:
            rate = c.streams.video[0].average_rate
            return float(rate) if rate else None
    except (av.error.FFmpegError, IndexError, OSError):
        return None


@dataclass
class LiveResult:
    """One analysed frame.

    Attributes
    ----------
    frame : Frame
        The frame (RGB image, index in the source, time in seconds from the start).
    rows : list of dict
        Its table rows (:mod:`affectkit.table`): one per face, or one no-face row.
    latency_s : float
        Seconds from the frame's capture to its rows.
    grabbed : int
        Frames read from the source so far.
    dropped : int
        Of those, frames replaced before the analysis could take them.
    """

    frame: Frame
    rows: list[dict]
    latency_s: float
    grabbed: int
    dropped: int


@dataclass
class LiveStats:
    """What a live run did: frames, drops, latency, rate.

    Attributes
    ----------
    analysed, grabbed, dropped : int
    latencies_s : list of float
    wall_s : float
        Seconds from the first analysed frame to the last.
    """

    analysed: int = 0
    grabbed: int = 0
    dropped: int = 0
    latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    _t0: float | None = None

    def add(self, r: LiveResult) -> None:
        now = time.perf_counter()
        self._t0 = now if self._t0 is None else self._t0
        self.wall_s = now - self._t0
        self.analysed += 1
        self.grabbed, self.dropped = r.grabbed, r.dropped
        self.latencies_s.append(r.latency_s)

    @property
    def fps(self) -> float:
        """Analysed frames per second."""
        return (self.analysed - 1) / self.wall_s if self.analysed > 1 and self.wall_s > 0 else float("nan")

    def latency_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the latency, milliseconds."""
        return float(np.quantile(self.latencies_s, q) * 1000) if self.latencies_s else float("nan")

    def summary(self) -> str:
        """One line: frames analysed, dropped, rate and latency."""
        pct = 100 * self.dropped / self.grabbed if self.grabbed else 0.0
        return (f"{self.analysed} frames analysed, {self.dropped} of {self.grabbed} dropped ({pct:.0f} %), "
                f"{self.fps:.1f} fps, latency median {self.latency_ms(0.5):.0f} ms, p95 {self.latency_ms(0.95):.0f} ms")

    def as_dict(self) -> dict:
        return {"analysed": self.analysed, "grabbed": self.grabbed, "dropped": self.dropped, "fps": self.fps,
                "latency_ms_median": self.latency_ms(0.5), "latency_ms_p95": self.latency_ms(0.95),
                "wall_s": self.wall_s}


def check_live_options(options: AnalyzeOptions) -> None:
    """Refuse the options a live source cannot honour.

    Raises
    ------
    OptionError
        For ``audio`` (no sound from a camera), ``impute`` (it needs the frames after
        a gap), ``faces_cropped`` or ``every`` other than 1 (frames are dropped as needed).
    """
    if options.audio is not None:
        raise OptionError("audio", "live analysis has no voice columns; drop --audio")
    if options.impute:
        raise OptionError("impute", "impute needs the frames after a gap; it is not available live")
    if options.every != 1:
        raise OptionError("every", "live analysis takes the newest frame whenever it is ready; drop --every")


def live(source: int | str | Path = 0, options: AnalyzeOptions | None = None, *, max_frames: int | None = None,
         max_seconds: float | None = None, **changes) -> Iterator[LiveResult]:
    """Analyse a live source in real time, one result per analysed frame.

    Parameters
    ----------
    source : int, str or Path
        A camera index (default 0), a device path, a stream URL, or a video file played
        at its own frame rate.
    options : AnalyzeOptions, optional
        The analysis options (detector, model, tta, min_face_size, detect_every,
        threads, track, max_gap, smooth); ``**changes`` replace its fields. ``audio``,
        ``impute`` and ``every`` are refused (:func:`check_live_options`).
    max_frames : int, optional
        Stop after this many analysed frames.
    max_seconds : float, optional
        Stop after this many seconds.

    Yields
    ------
    LiveResult
        In capture order; frames the analysis could not keep up with are skipped
        (counted in ``dropped``).

    Raises
    ------
    InputError
        If the source cannot be opened (raised after the frames it did give).
    OptionError
        For an option a live source cannot honour.
    """
    options = AnalyzeOptions.of(options, **changes)
    check_live_options(options)
    analyzer = Analyzer(options)
    tracker = Tracker(options.max_gap) if options.track else None
    timeline = Timeline(options.smooth, 0.0) if options.smooth else None
    grabber = Grabber(source)
    name = printable(source)
    grabber.start()
    t_end = None if max_seconds is None else time.perf_counter() + max_seconds
    n = 0
    try:
        while max_frames is None or n < max_frames:
            if t_end is not None and time.perf_counter() >= t_end:
                break
            item = grabber.slot.take(timeout=0.5)
            if item is None:
                if grabber.slot.closed:
                    break
                continue
            frame, stamp = item
            rows = analyzer.frame_rows([frame], name, tracker)[0]
            if timeline is not None:
                rows = timeline.push(frame.time_s, rows)
            yield LiveResult(frame, rows, time.perf_counter() - stamp, grabber.slot.grabbed, grabber.slot.dropped)
            n += 1
    finally:
        grabber.stop()
        grabber.join(timeout=2)
    if grabber.error is not None:
        if isinstance(grabber.error, InputError):
            raise grabber.error
        raise InputError(name, f"the source broke off ({type(grabber.error).__name__}: {grabber.error})")


def gui_available() -> bool:
    """True if OpenCV can open a window (a GUI build: ``affectkit[gui]``, not opencv-python-headless)."""
    import cv2

    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    return bool(gui) and "NONE" not in gui[0].upper()


class AnnotatedStream:
    """Writes analysed frames with their boxes and predictions drawn, as an MP4, atomically.

    Frames are placed at their capture time (``time_s``) on a grid of ``rate`` frames
    per second, so dropped frames show as a held picture, not as a faster video.

    Parameters
    ----------
    path : Path
        A temporary path (the caller renames it into place).
    rate : float
        Frames per second of the output grid (the source's, or 30 for a camera).
    """

    def __init__(self, path: Path, rate: float):
        import av

        self.av = av
        self.rate = max(1, int(round(rate)))
        self.out = av.open(str(path), "w", format="mp4")
        try:
            self.stream = self.out.add_stream("libx264", rate=self.rate)
        except (av.error.FFmpegError, ValueError):
            self.stream = self.out.add_stream("mpeg4", rate=self.rate)
        self.stream.pix_fmt = "yuv420p"
        self.last_pts = -1
        self.frames = 0

    def write(self, result: LiveResult) -> None:
        import pandas as pd

        from affectkit.table import make_table
        from affectkit.viz import _draw, _fit

        img = result.frame.image
        if not self.stream.width:
            self.stream.width, self.stream.height = max(2, img.shape[1] // 2 * 2), max(2, img.shape[0] // 2 * 2)
        rows = make_table(result.rows) if result.rows else pd.DataFrame(columns=["face"])
        drawn = _fit(_draw(img, rows), self.stream.height, self.stream.width)
        t = result.frame.time_s if math.isfinite(result.frame.time_s) else 0.0
        pts = max(self.last_pts + 1, int(round(t * self.rate)))
        vf = self.av.VideoFrame.from_ndarray(drawn, format="rgb24")
        vf.pts = pts
        vf.time_base = Fraction(1, self.rate)
        for packet in self.stream.encode(vf):
            self.out.mux(packet)
        self.last_pts = pts
        self.frames += 1

    def close(self) -> None:
        if self.stream.width:
            for packet in self.stream.encode():
                self.out.mux(packet)
        self.out.close()
