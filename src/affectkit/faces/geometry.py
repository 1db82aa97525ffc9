"""Landmark-geometry features: the face's shape as a vector (Jin et al. 2019).

Jin et al. feed the 68 iBUG landmarks of each frame, flattened to 136 numbers and
shifted so that the first point is the origin, to their temporal models, next to CNN
embeddings; a mouth-only subset is their second geometric feature. The vectors are
per-frame embeddings ``(T, D)`` that any temporal model can take.
"""

from __future__ import annotations

import numpy as np

LANDMARK_SUBSETS: dict[str, slice] = {
    "all": slice(0, 68),
    "mouth": slice(48, 68),  # iBUG points 49-68 (1-based): outer and inner lips
}
"""Named subsets of the iBUG 68-point scheme (0-based slices)."""


def landmark_geometry(landmarks: np.ndarray, subset: str = "all") -> np.ndarray:
    """Flattened, origin-shifted landmark coordinates.

    Parameters
    ----------
    landmarks : np.ndarray
        ``(68, 2)`` or ``(N, 68, 2)`` float landmark ``(x, y)`` positions in pixels,
        iBUG 68-point order.
    subset : {"all", "mouth"}
        ``all`` gives 136 values per face; ``mouth`` the 20 lip points, 40 values.
        The origin is the subset's first point (iBUG point 1, or point 49 for the
        mouth), so the features describe shape and are unchanged by translation.

    Returns
    -------
    np.ndarray
        ``(N, 2 * points)`` ``float32`` in pixels, ``x0, y0, x1, y1, ...``; ``(2 *
        points,)`` for a single face. The first two values are always 0.

    Raises
    ------
    ValueError
        For another shape than ``(68, 2)`` / ``(N, 68, 2)``, non-finite values, or an
        unknown subset.
    """
    if subset not in LANDMARK_SUBSETS:
        raise ValueError(f"subset must be one of {sorted(LANDMARK_SUBSETS)}, got {subset!r}")
    pts = np.asarray(landmarks, dtype=np.float32)
    single = pts.ndim == 2
    if single:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2) or (N, 68, 2), got {np.shape(landmarks)}")
    if not np.isfinite(pts).all():
        raise ValueError("landmarks contain NaN or infinite values")
    part = pts[:, LANDMARK_SUBSETS[subset]]
    out = (part - part[:, :1]).reshape(len(part), -1)
    return out[0] if single else out
