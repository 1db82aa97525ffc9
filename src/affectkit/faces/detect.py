"""Face detectors: MTCNN (default) and Viola-Jones (OpenCV Haar cascades).

* MTCNN: Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task
  Cascaded Convolutional Networks"; the ``facenet-pytorch`` port, whose weights ship
  in its wheel. Gives boxes, scores and five landmarks.
* Viola-Jones: Viola & Jones 2001, as used by Ng et al. 2015; OpenCV's
  ``haarcascade_frontalface_default.xml``, with ``haarcascade_eye.xml`` inside the box
  for the two eye centres that eye-based alignment needs.

Both take RGB ``uint8`` ``(H, W, 3)`` frames and return one list of
:class:`~affectkit.faces.types.Face` per frame.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from affectkit.faces.types import Face


class FaceDetector(Protocol):
    """Anything with ``detect_batch(frames) -> list[list[Face]]``."""

    name: str

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]: ...


def padded_size(n: int) -> int:
    """Round a batch size up to one of four sizes per doubling (..., 28, 32, 40, 48, 56, 64, 80, ...).

    At most 25 % larger than ``n``; sizes up to 8 are kept.
    """
    step = 1 << max(0, n.bit_length() - 3)
    return -(-n // step) * step


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
        from facenet_pytorch import MTCNN

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

    Eye centres come from OpenCV's eye cascade run in the upper half of each face box;
    when two eyes are not found, the face has no landmarks and alignment falls back
    to a square crop of the box.

    Parameters
    ----------
    min_face_size : int
        Smallest face side, pixels.
    scale_factor : float
        Pyramid step of ``detectMultiScale``.
    min_neighbors : int
        Overlapping detections needed to keep a face (higher = fewer false positives).

    Raises
    ------
    RuntimeError
        If OpenCV ships no Haar cascades (opencv-python-headless 5 dropped them).
    """

    name = "haar"

    def __init__(self, min_face_size: int = 40, scale_factor: float = 1.1, min_neighbors: int = 5):
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

    def _eyes(self, grey: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray | None:
        roi = grey[y : y + h // 2, x : x + w]
        eyes = self._eye.detectMultiScale(roi, 1.1, 3, minSize=(max(8, w // 8), max(8, w // 8)))
        if len(eyes) < 2:
            return None
        # Keep the two largest, ordered left to right in the image.
        eyes = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
        centres = sorted(((x + ex + ew / 2, y + ey + eh / 2) for ex, ey, ew, eh in eyes))
        left, right = np.array(centres, dtype=np.float32)
        if right[0] - left[0] < w * 0.2:  # one eye found twice
            return None
        return np.array([left, right])

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect faces in RGB ``uint8`` ``(H, W, 3)`` frames."""
        import cv2

        out = []
        for frame in frames:
            grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            boxes = self._face.detectMultiScale(
                grey,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(self.min_face_size, self.min_face_size),
            )
            faces = []
            for x, y, w, h in boxes:
                lm = np.full((5, 2), np.nan, dtype=np.float32)
                eyes = self._eyes(grey, x, y, w, h)
                if eyes is not None:
                    lm[:2] = eyes
                faces.append(Face(np.array([x, y, w, h], dtype=np.float32), 1.0, lm))
            out.append(faces)
        return out


DETECTORS = ("mtcnn", "haar")


def create_detector(name: str, **kwargs) -> FaceDetector:
    """Build a detector by name (``"mtcnn"`` or ``"haar"``).

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    """
    if name == "mtcnn":
        return MTCNNDetector(**kwargs)
    if name == "haar":
        return HaarDetector(**kwargs)
    raise ValueError(f"detector must be one of {DETECTORS}, got {name!r}")
