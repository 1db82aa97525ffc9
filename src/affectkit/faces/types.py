"""The value that face detectors hand to alignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LANDMARK_NAMES_5 = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""Order of the five landmarks. Left/right are as seen in the image (the subject's
right eye is ``left_eye``), as MTCNN reports them."""


@dataclass
class Face:
    """One detected face in one frame.

    Attributes
    ----------
    box : np.ndarray
        ``(4,)`` ``float32`` ``x, y, width, height`` in pixels of the frame, origin top left.
    score : float
        Detector confidence in [0, 1] (Haar has none and reports 1.0).
    landmarks : np.ndarray or None
        ``(5, 2)`` ``float32`` ``x, y`` pixels in :data:`LANDMARK_NAMES_5` order; rows a
        detector cannot give are NaN. None when the detector gives no landmarks.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None

    @property
    def eyes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(left_eye, right_eye)`` as ``(2,)`` arrays, or None if either is unknown."""
        if self.landmarks is None or np.isnan(self.landmarks[:2]).any():
            return None
        return self.landmarks[0], self.landmarks[1]
