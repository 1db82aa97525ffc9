"""The live page's WebSocket: JPEG frames in, faces with boxes and scores out.

The page sends a frame only after it has the answer to the previous one, so a server
that falls behind makes the page drop frames rather than queue them; the server also
keeps only the newest frame that arrived while it was busy (:meth:`LiveSession.serve`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np

from affectkit.errors import AffectkitError, one_line

MAX_FRAME_BYTES = 4_000_000
"""Largest JPEG frame accepted, bytes."""

_analyzers: dict = {}
_lock = threading.Lock()


def live_analyzer(detector: str):
    """The shared live :class:`~affectkit.pipeline.Analyzer` for ``detector`` and its lock.

    One per detector for the whole process (tracking off: each session keeps its own
    :class:`~affectkit.faces.tracking.Tracker`); the lock serialises its use.

    Raises
    ------
    OptionError
        For an unknown detector.
    """
    from affectkit.pipeline import AnalyzeOptions, Analyzer

    options = AnalyzeOptions(detector=detector, track=False)
    with _lock:
        if detector not in _analyzers:
            _analyzers[detector] = (Analyzer(options), threading.Lock())
        return _analyzers[detector]


def decode_jpeg(data: bytes) -> np.ndarray:
    """RGB ``uint8`` ``(H, W, 3)`` from JPEG (or PNG) bytes.

    Raises
    ------
    ValueError
        If the bytes are not a JPEG or PNG image, or are larger than :data:`MAX_FRAME_BYTES`.
    """
    import cv2

    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"frame too large: {len(data)} bytes, the limit is {MAX_FRAME_BYTES}")
    if not (data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"):
        raise ValueError("a frame must be a JPEG or PNG image")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("the frame could not be decoded")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def face_json(row: dict) -> dict:
    """One face of a table row as the live answer gives it (box in pixels, scores in [0, 1])."""
    from affectkit.expressions import EXPRESSIONS

    return {"face": int(row["face"]), "track_id": None if row.get("track_id") is None else int(row["track_id"]),
            "box": [float(row[c]) for c in ("x", "y", "width", "height")],
            "expression": row["expression"], "scores": {e: float(row[e]) for e in EXPRESSIONS},
            "valence": float(row["valence"]), "arousal": float(row["arousal"])}


class LiveSession:
    """One live connection: its tracker, ``detect_every`` schedule, frame count and clock.

    Parameters
    ----------
    detector : {"mtcnn", "haar"}
    max_gap : float
        Seconds a face may be missed and keep its track, as in ``analyze``.
    """

    def __init__(self, detector: str = "mtcnn", max_gap: float = 1.0):
        from affectkit.faces.tracking import Tracker
        from affectkit.pipeline import DetectionSchedule

        self.detector = detector
        self.tracker = Tracker(max_gap)
        self.schedule = DetectionSchedule()  # the analyzer is shared: each connection follows its own faces
        self.frames = 0
        self.start = time.monotonic()

    def analyse(self, image: np.ndarray) -> dict:
        """Faces of one frame: ``{"frame", "time_s", "width", "height", "faces", "ms"}``.

        Parameters
        ----------
        image : np.ndarray
            RGB ``uint8`` ``(H, W, 3)``.
        """
        from affectkit.io.media import Frame

        analyzer, lock = live_analyzer(self.detector)
        t = time.monotonic()
        frame = Frame(image, self.frames, t - self.start)
        with lock:
            rows = analyzer.frame_rows([frame], "live", self.tracker, self.schedule)[0]
        self.frames += 1
        faces = [face_json(r) for r in rows if r.get("face") is not None and r["face"] == r["face"]]
        return {"frame": frame.index, "time_s": round(frame.time_s, 3), "width": int(image.shape[1]),
                "height": int(image.shape[0]), "faces": faces, "ms": round(1000 * (time.monotonic() - t), 1)}

    async def serve(self, ws, executor) -> None:
        """Answer frames until the client goes; keep only the newest frame while busy.

        Text messages are ignored except ``"ping"``; an unusable frame gets
        ``{"error": "..."}`` and the session goes on.
        """
        from starlette.websockets import WebSocketDisconnect

        loop = asyncio.get_running_loop()
        latest: list = []
        arrived = asyncio.Event()
        closed = asyncio.Event()

        async def reader():
            try:
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        break
                    if msg.get("bytes") is not None:
                        latest[:] = [msg["bytes"]]  # the newest frame replaces any waiting one
                        arrived.set()
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                closed.set()
                arrived.set()

        task = asyncio.create_task(reader())
        try:
            while True:
                await arrived.wait()
                arrived.clear()
                if closed.is_set() and not latest:
                    break
                if not latest:
                    continue
                data = latest.pop()
                try:
                    image = decode_jpeg(data)
                    answer = await loop.run_in_executor(executor, self.analyse, image)
                except (ValueError, AffectkitError) as exc:
                    answer = {"error": one_line(exc)}
                if closed.is_set():
                    break
                await ws.send_text(json.dumps(answer))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            task.cancel()
