"""Face alignment and crop policies.

* ``ng2015``: eye-based rotation and scale (Ng et al. 2015, "Deep Learning for
  Emotion Recognition on Small Datasets Using Transfer Learning", ICMI). The eye line
  is made level, and with ``e2e`` the eye-to-eye distance the crop reaches 0.62·e2e
  beyond each eye, 0.9·e2e above and 1.35·e2e below the eye line. This framing matches
  FER-2013's faces, which is why affectkit's default model uses it.
* ``landmark_box``: the bounding box of the landmarks, made square (Ulloa et al. 2019
  crop AFEW-VA faces to their landmark box).
* ``box``: a square crop around the detector box (fallback when there are no eyes).

All functions take an RGB ``uint8`` ``(H, W, 3)`` frame and return an RGB ``uint8``
``(out_size, out_size, 3)`` crop; parts outside the frame are filled by replicating
the border.
"""

from __future__ import annotations

import numpy as np

from affectkit.faces.types import Face

# Ng et al. 2015 crop margins, in units of the eye-to-eye distance.
NG2015_SIDE = 0.62
NG2015_ABOVE = 0.9
NG2015_BELOW = 1.35

CROP_POLICIES = ("ng2015", "landmark_box", "box")


def _warp(frame: np.ndarray, origin: np.ndarray, ex: np.ndarray, ey: np.ndarray, width: float, height: float, out_size: int) -> np.ndarray:
    """Sample the rectangle ``origin + s·ex + t·ey`` (s in [0, width], t in [0, height])."""
    import cv2

    # Warp at roughly native resolution, then area-downsample: avoids aliasing when a
    # large face is shrunk to a small network input.
    work = int(np.clip(round(max(width, height)), out_size, 4 * out_size))
    sx, sy = width / work, height / work
    # Maps output pixel (j, i) to frame coordinates; pixel centres at +0.5.
    m = np.array(
        [
            [ex[0] * sx, ey[0] * sy, origin[0] + 0.5 * (ex[0] * sx + ey[0] * sy) - 0.5],
            [ex[1] * sx, ey[1] * sy, origin[1] + 0.5 * (ex[1] * sx + ey[1] * sy) - 0.5],
        ],
        dtype=np.float64,
    )
    crop = cv2.warpAffine(
        frame, m, (work, work), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    if work != out_size:
        crop = cv2.resize(crop, (out_size, out_size), interpolation=cv2.INTER_AREA)
    return crop


def align_ng2015(frame: np.ndarray, left_eye: np.ndarray, right_eye: np.ndarray, out_size: int = 96) -> np.ndarray:
    """Eye-aligned crop of Ng et al. 2015.

    Parameters
    ----------
    frame : np.ndarray
        RGB ``uint8`` ``(H, W, 3)``.
    left_eye, right_eye : np.ndarray
        ``(2,)`` eye centres ``x, y`` in pixels; ``left_eye`` is the one on the image's
        left.
    out_size : int
        Output side, pixels.

    Returns
    -------
    np.ndarray
        RGB ``uint8`` ``(out_size, out_size, 3)``.

    Raises
    ------
    ValueError
        If the eyes coincide (zero eye-to-eye distance).
    """
    left, right = np.asarray(left_eye, np.float64), np.asarray(right_eye, np.float64)
    d_vec = right - left
    e2e = float(np.hypot(*d_vec))
    if e2e < 1e-3:
        raise ValueError("eye-to-eye distance is zero")
    ex = d_vec / e2e  # along the eye line
    ey = np.array([-ex[1], ex[0]])  # perpendicular, pointing down the face
    width = e2e * (1 + 2 * NG2015_SIDE)
    height = e2e * (NG2015_ABOVE + NG2015_BELOW)
    origin = left - ex * NG2015_SIDE * e2e - ey * NG2015_ABOVE * e2e
    return _warp(frame, origin, ex, ey, width, height, out_size)


def crop_square(frame: np.ndarray, x: float, y: float, w: float, h: float, out_size: int = 96, scale: float = 1.0) -> np.ndarray:
    """Square crop centred on the box ``x, y, w, h`` (pixels), side ``scale·max(w, h)``."""
    side = scale * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    origin = np.array([cx - side / 2, cy - side / 2])
    return _warp(frame, origin, np.array([1.0, 0.0]), np.array([0.0, 1.0]), side, side, out_size)


def crop_landmark_box(frame: np.ndarray, landmarks: np.ndarray, out_size: int = 96, margin: float = 0.0) -> np.ndarray:
    """Square crop of the landmarks' bounding box (Ulloa et al. 2019).

    Parameters
    ----------
    landmarks : np.ndarray
        ``(K, 2)`` ``x, y`` pixels (5 or 68 points); NaN rows are ignored.
    margin : float
        Fraction of the box side added on every side.

    Raises
    ------
    ValueError
        If fewer than two landmarks are finite.
    """
    pts = np.asarray(landmarks, np.float64)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < 2:
        raise ValueError("landmark_box crop needs at least two landmarks")
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return crop_square(frame, x0, y0, x1 - x0, y1 - y0, out_size, scale=1 + 2 * margin)


def align_face(frame: np.ndarray, face: Face, policy: str = "ng2015", out_size: int = 96) -> np.ndarray:
    """Crop one detected face with the given policy.

    ``ng2015`` needs both eyes and ``landmark_box`` needs landmarks; without them the
    crop falls back to ``box`` (a square around the detector box).

    Raises
    ------
    ValueError
        If ``policy`` is not one of :data:`CROP_POLICIES`.
    """
    if policy not in CROP_POLICIES:
        raise ValueError(f"crop policy must be one of {CROP_POLICIES}, got {policy!r}")
    if policy == "ng2015" and face.eyes is not None:
        return align_ng2015(frame, *face.eyes, out_size=out_size)
    if policy == "landmark_box" and face.landmarks is not None and np.isfinite(face.landmarks).all(1).sum() >= 2:
        return crop_landmark_box(frame, face.landmarks, out_size)
    return crop_square(frame, *face.box, out_size=out_size)
