"""Face detectors: MTCNN (default) and Viola-Jones (OpenCV Haar cascades).

* MTCNN: Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task
  Cascaded Convolutional Networks". Gives boxes, scores and five landmarks.
  :func:`create_detector` gives the ONNX Runtime port
  (:class:`~affectkit.faces.mtcnn_onnx.OnnxMTCNN`, no torch);
  :class:`MTCNNDetector` is the ``facenet-pytorch`` original (``affectkit[train]``),
  kept as the reference the port is tested against.
* Viola-Jones: Viola & Jones 2001, as used by Ng et al. 2015; OpenCV's
  ``haarcascade_frontalface_default.xml``, with ``haarcascade_eye.xml`` inside the box
  for the two eye centres that eye-based alignment needs.

Both take RGB ``uint8`` ``(H, W, 3)`` frames and return one list of
:class:`~affectkit.faces.types.Face` per frame.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from affectkit.faces.batching import padded_size  # noqa: F401  (re-exported)
from affectkit.faces.types import Face


class FaceDetector(Protocol):
    """Anything with ``detect_batch(frames) -> list[list[Face]]``."""

    name: str

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]: ...


class _PaddedForward:
    """A network's ``forward`` run on a batch padded with zero rows to :func:`padded_size`.

    The outputs of the padding rows are dropped.

    MTCNN's second and third stages run on as many candidate boxes as the stage before
    found, a different number in nearly every chunk of frames (185 to 311 for the
    R-net on 8-frame chunks of the sample clip). Every new size allocates tensors of a
    new size, which fragments the C heap, and adds entries to the convolution library's
    per-shape caches. A few sizes per doubling keep the number of shapes bounded, for at
    most 25 % more R-/O-net rows. ``benchmarks/long_video.py --control-minutes`` measures
    peak memory and CPU time with and without the padding on the same videos; the
    figures are in docs/long_video.md.
    Each row is computed independently, so the real rows' outputs do not depend on the
    padding (``tests/test_long_video_memory.py`` checks this).
    """

    def __init__(self, forward):
        self.forward = forward

    def __call__(self, x):
        import torch

        n = len(x)
        m = padded_size(n)
        if m > n:
            x = torch.cat([x, x.new_zeros((m - n, *x.shape[1:]))])
        return tuple(out[:n] for out in self.forward(x))


class MTCNNDetector:
    """MTCNN face detector with five landmarks (Zhang et al. 2016).

    Parameters
    ----------
    min_face_size : int
        Smallest face side searched, pixels. Larger is faster (fewer pyramid levels).
    thresholds : (float, float, float)
        P-, R- and O-net score thresholds.
    min_score : float
        Faces scoring below this are dropped.
    device : str
        Torch device.
    """

    name = "mtcnn"

    def __init__(
        self,
        min_face_size: int = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        min_score: float = 0.9,
        device: str = "cpu",
    ):
        from affectkit.errors import require

        MTCNN = require("facenet_pytorch", "train", "the torch MTCNN detector").MTCNN
        self.min_score = min_score
        self.min_face_size = min_face_size
        self._mtcnn = MTCNN(
            min_face_size=min_face_size, thresholds=list(thresholds), keep_all=True, device=device
        )
        for net in (self._mtcnn.rnet, self._mtcnn.onet):  # bounded batch sizes, see _PaddedForward
            net.forward = _PaddedForward(net.forward)

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in RGB ``uint8`` ``(H, W, 3)`` frames.

        Frames of equal size run as one batch through the networks. A frame whose
        shorter side is below ``min_face_size`` cannot hold a face that large and gets
        no faces without running the networks (MTCNN's image pyramid would be empty).
        """
        import torch

        if not frames:
            return []
        out: list[list[Face]] = [[] for _ in frames]
        fits = [i for i, f in enumerate(frames) if min(f.shape[:2]) >= self.min_face_size]
        same = all(frames[i].shape == frames[fits[0]].shape for i in fits)
        groups = [fits] if same else [[i] for i in fits]
        with torch.inference_mode():
            for idx in groups:
                if not idx:
                    continue
                group = [frames[i] for i in idx]
                boxes, probs, points = self._mtcnn.detect(np.stack(group), landmarks=True)
                for i, b, p, pts in zip(idx, boxes, probs, points):
                    faces = []
                    if b is not None:
                        for box, prob, lm in zip(b, p, pts):
                            if prob is None or prob < self.min_score:
                                continue
                            x1, y1, x2, y2 = box
                            faces.append(
                                Face(
                                    box=np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32),
                                    score=float(prob),
                                    landmarks=np.asarray(lm, dtype=np.float32),
                                )
                            )
                    out[i] = faces
        return out


class HaarDetector:
    """Viola-Jones face detector (OpenCV Haar cascade), as in Ng et al. 2015.

    The cascade runs on a grey copy of the frame shrunk so that the smallest face
    searched (``min_face_size``) is :data:`CASCADE_WINDOW` pixels, the cascade's own
    window (``haarcascade_frontalface_default.xml`` is trained on 24x24 faces): at full
    resolution every pyramid level below that size is searched for faces too small to
    keep, which made Viola-Jones slower than MTCNN. Boxes are mapped back to frame
    pixels. Eye centres come from OpenCV's eye cascade run on the upper half of each face
    box (shrunk to :data:`EYE_SEARCH_WIDTH`); when two eyes are not found, the face has no
    landmarks and alignment falls back to a square crop of the box. Between detections,
    :meth:`follow` carries the eyes with the box.

    Parameters
    ----------
    min_face_size : int
        Smallest face side, pixels.
    scale_factor : float
        Pyramid step of ``detectMultiScale`` (default 1.3: between 2 and 3 levels per octave; on the
        shared media it finds the faces that 1.1 finds, see docs/benchmarks.md).
    min_neighbors : int
        Overlapping detections needed to keep a face (higher = fewer false positives).

    Raises
    ------
    RuntimeError
        If OpenCV ships no Haar cascades (opencv-python-headless 5 dropped them).
    """

    name = "haar"

    def __init__(self, min_face_size: int = 40, scale_factor: float = 1.3, min_neighbors: int = 5):
        import cv2

        root = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if root is None:
            raise RuntimeError("this OpenCV build ships no Haar cascades; install opencv-python-headless<5")
        self._face = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
        self._eye = cv2.CascadeClassifier(root + "haarcascade_eye.xml")
        if self._face.empty() or self._eye.empty():
            raise RuntimeError(f"Haar cascades could not be loaded from {root}")
        self.min_face_size = min_face_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        # detection scale: the smallest face searched becomes the cascade's window
        self.scale = min(1.0, CASCADE_WINDOW / max(1, min_face_size))

    def _eyes(self, grey: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray | None:
        roi = grey[y : y + h // 2, x : x + w]
        # a face wider than EYE_SEARCH_WIDTH is searched shrunk to it, at a fraction of the cost;
        # eyes are at least 1/8 of the face (and the eye cascade's window is 20 px)
        r = min(1.0, EYE_SEARCH_WIDTH / max(1, w))
        roi = _shrunk(roi, r)
        side = max(8, int(w * r) // 8)
        eyes = self._eye.detectMultiScale(roi, 1.1, EYE_MIN_NEIGHBORS, minSize=(side, side))
        if len(eyes) < 2:
            return None
        # Keep the two largest, ordered left to right in the image.
        eyes = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
        centres = sorted(((x + (ex + ew / 2) / r, y + (ey + eh / 2) / r) for ex, ey, ew, eh in eyes))
        left, right = np.array(centres, dtype=np.float32)
        if right[0] - left[0] < w * 0.2:  # one eye found twice
            return None
        return np.array([left, right])

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in RGB ``uint8`` ``(H, W, 3)`` frames.

        Returns
        -------
        list of list of Face
            Per frame: boxes ``(x, y, width, height)`` in frame pixels, score 1, and
            landmarks with the two eye centres (NaN when the eyes were not found).
        """
        import cv2

        out = []
        k = self.scale
        side = max(CASCADE_WINDOW, int(round(self.min_face_size * k)))
        for frame in frames:
            grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            small = _shrunk(grey, k)
            if min(small.shape) < side:
                out.append([])
                continue
            boxes = self._face.detectMultiScale(cv2.equalizeHist(small), scaleFactor=self.scale_factor,
                                                minNeighbors=self.min_neighbors, minSize=(side, side))
            grey = cv2.equalizeHist(grey)
            out.append([self._face_at(grey, *(int(round(v / k)) for v in bx)) for bx in boxes])
        return out

    def _face_at(self, grey: np.ndarray, x: int, y: int, w: int, h: int) -> Face:
        """A :class:`Face` for a box of the (equalised, grey) frame, with its eye centres when found."""
        w, h = min(w, grey.shape[1] - x), min(h, grey.shape[0] - y)
        lm = np.full((5, 2), np.nan, dtype=np.float32)
        eyes = self._eyes(grey, x, y, w, h)
        if eyes is not None:
            lm[:2] = eyes
        return Face(np.array([x, y, w, h], dtype=np.float32), 1.0, lm)

    def follow(self, frame: np.ndarray, faces: Sequence[Face]) -> list[Face]:
        """Follow faces found in an earlier frame into this one: the cascade searched near each alone.

        Each face is searched for in its box grown by half its side on every side, at
        sizes from 0.8 to 1.25 times its own, shrunk so that the smallest size is 30 px,
        so a face that moved a little costs a small window instead of the whole frame;
        the match nearest the old box is kept.
        A face not found there is dropped, so a caller can detect again (the pipeline's
        ``detect_every``).

        The eye centres are carried with the box (:func:`carried_landmarks`), not
        searched again: the eye cascade cost more than the face search near the face
        (``benchmarks/detect_every.py`` gives what carrying costs in eye position), and
        between two detections, 0.1 s apart by default, the eyes keep their place in the
        face box. Eyes not found at the last detection stay NaN until the next one.

        Parameters
        ----------
        frame : np.ndarray
            RGB ``uint8`` ``(H, W, 3)``.
        faces : sequence of Face
            Faces of an earlier frame of the same source, in this frame's pixels.

        Returns
        -------
        list of Face
            The faces found again, in the order given.
        """
        import cv2

        if not faces:
            return []
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        H, W = grey.shape
        out = []
        for face in faces:
            x, y, w, h = (float(v) for v in face.box)
            x0, y0 = max(0, int(x - w / 2)), max(0, int(y - h / 2))
            x1, y1 = min(W, int(x + 1.5 * w) + 1), min(H, int(y + 1.5 * h) + 1)
            lo, hi = max(CASCADE_WINDOW, int(0.8 * min(w, h))), int(1.25 * max(w, h)) + 1
            if x1 - x0 < lo or y1 - y0 < lo:
                continue
            # searched shrunk so that the smallest size searched is a little above the cascade's window
            r = min(1.0, 1.25 * CASCADE_WINDOW / lo)
            roi = _shrunk(grey[y0:y1, x0:x1], r)
            lo_r, hi_r = max(CASCADE_WINDOW, int(lo * r)), int(hi * r) + 1
            found = self._face.detectMultiScale(cv2.equalizeHist(np.ascontiguousarray(roi)), scaleFactor=1.1,
                                                minNeighbors=self.min_neighbors, minSize=(lo_r, lo_r),
                                                maxSize=(hi_r, hi_r))
            if len(found) == 0:
                continue
            found = np.asarray(found, float) / r
            cx, cy = x + w / 2, y + h / 2
            fx, fy, fw, fh = min(found, key=lambda b: (b[0] + b[2] / 2 - cx + x0) ** 2 + (b[1] + b[3] / 2 - cy + y0) ** 2)
            fw, fh = min(int(fw), W - int(fx) - x0), min(int(fh), H - int(fy) - y0)
            box = np.array([int(fx) + x0, int(fy) + y0, fw, fh], dtype=np.float32)
            out.append(Face(box, 1.0, carried_landmarks(face, box)))
        return out


def carried_landmarks(face: Face, box: np.ndarray) -> np.ndarray:
    """A face's landmarks moved with its box: same place relative to the box, scaled with it.

    Parameters
    ----------
    face : Face
        The face before, with ``box`` ``(x, y, width, height)`` and ``landmarks``
        ``(5, 2)`` float32, pixels (NaN rows stay NaN).
    box : np.ndarray
        Its new box, ``(4,)`` ``(x, y, width, height)``, pixels.

    Returns
    -------
    np.ndarray
        ``(5, 2)`` float32, pixels.
    """
    old = np.asarray(face.box, dtype=np.float64)
    scale = np.asarray(box[2:], dtype=np.float64) / np.maximum(old[2:], 1e-6)
    moved = (np.asarray(face.landmarks, dtype=np.float64) - old[:2]) * scale + np.asarray(box[:2], dtype=np.float64)
    return moved.astype(np.float32)


def _shrunk(grey: np.ndarray, k: float) -> np.ndarray:
    """A grey image scaled by ``k`` <= 1 with area averaging (itself when ``k`` >= 1), at least 1 px a side."""
    import cv2

    if k >= 1:
        return grey
    size = (max(1, round(grey.shape[1] * k)), max(1, round(grey.shape[0] * k)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


CASCADE_WINDOW = 24
"""Side, pixels, of the window OpenCV's frontal-face Haar cascade was trained on."""

EYE_SEARCH_WIDTH = 140
"""Face width, pixels, above which the eye cascade searches a shrunk copy of the face
(the smallest eye searched is then the eye cascade's 20 px window, 1/7 of the face).
Chosen on the faces Haar finds in the shared media (``benchmarks/haar_eyes.py``,
docs/haar_eyes.md): against 160, both eyes found more often, nearer MTCNN's eye
landmarks, in less time."""

EYE_MIN_NEIGHBORS = 3
"""Overlapping eye-cascade detections needed to keep an eye."""


DETECTORS = ("mtcnn", "haar")


def create_detector(name: str, threads: int | None = None, **kwargs) -> FaceDetector:
    """Build a detector by name (``"mtcnn"`` or ``"haar"``); neither imports torch.

    Parameters
    ----------
    name : {"mtcnn", "haar"}
        ``"mtcnn"``: :class:`~affectkit.faces.mtcnn_onnx.OnnxMTCNN` (ONNX Runtime);
        ``"haar"``: :class:`HaarDetector` (OpenCV).
    threads : int, optional
        ONNX Runtime intra-op threads of the MTCNN networks (None: ONNX Runtime's
        choice); ignored by ``"haar"``.
    **kwargs
        Passed to the detector (e.g. ``min_face_size``).

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    """
    if name == "mtcnn":
        from affectkit.faces.mtcnn_onnx import OnnxMTCNN

        return OnnxMTCNN(threads=threads, **kwargs)
    if name == "haar":
        return HaarDetector(**kwargs)
    raise ValueError(f"detector must be one of {DETECTORS}, got {name!r}")
