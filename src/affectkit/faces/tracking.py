"""Face tracking: give each face a ``track_id`` that follows one person across frames.

A SORT-like online tracker (Bewley et al. 2016, "Simple Online and Realtime
Tracking"): each frame's detections are matched one-to-one to the active tracks with
the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on a cost built
from box overlap (IoU) and centre distance, after moving each track's box forward
with a constant-velocity prediction. SORT predicts with a Kalman filter; a smoothed
velocity does the same job for faces at a fraction of the code.

Unlike SORT, a track survives a gap measured in seconds (``max_gap_s``), not
frames, so the same setting works whatever ``--every`` is. The state is the active
tracks only, never the video so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_FORBIDDEN = 1e6  # cost of a pair that fails the gate; never accepted


@dataclass
class _Track:
    id: int
    box: np.ndarray  # (4,) x, y, width, height of the last detection, pixels
    time_s: float  # when it was last detected
    velocity: np.ndarray  # (2,) centre velocity, pixels per second
    hits: int = 1
    missed_since: float | None = None  # first analysed frame it was missing from, seconds


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Parameters
    ----------
    a, b : np.ndarray
        ``(N, 4)`` and ``(M, 4)`` boxes ``x, y, width, height`` in pixels.

    Returns
    -------
    np.ndarray
        ``(N, M)`` ``float64`` in [0, 1].
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    w = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


class Tracker:
    """Online face tracker for one source (Bewley et al. 2016, SORT-like).

    Call :meth:`update` once per analysed frame, in time order. Make one tracker
    per source: ids start at 0 and are given in order of first appearance (within
    a frame, in detection order). An id is never reused.

    Matching cost of track *k* and detection *j*: ``(1 - IoU) + d / s``, where ``d``
    is the distance between the track's predicted centre and the detection's centre
    and ``s`` the track's face size ``sqrt(width * height)``. A pair is allowed only
    if ``d / s <= max_distance`` and the two face sizes differ by at most a factor
    ``max_scale``; a detection matched to no track starts a new one.

    Parameters
    ----------
    max_gap_s : float
        Seconds a track may go undetected and still be matched again, counted from the
        first analysed frame it is missing from; a face gone longer gets a new id.
    max_distance : float
        Largest centre distance of a match, in face sizes of the track.
    max_scale : float
        Largest ratio between the face sizes of a match.
    predict : bool
        Move each track by its centre velocity (an exponential average over its
        matches, pixels per second) before matching, so that faces crossing paths
        keep their ids. Off: match against the last seen box.

    Raises
    ------
    ValueError
        If a parameter is out of range.
    """

    def __init__(self, max_gap_s: float = 1.0, *, max_distance: float = 1.0, max_scale: float = 2.0,
                 predict: bool = True):
        if not max_gap_s >= 0 or math.isinf(max_gap_s):
            raise ValueError(f"max_gap_s must be a finite number >= 0 seconds, got {max_gap_s}")
        if not max_distance > 0:
            raise ValueError(f"max_distance must be > 0, got {max_distance}")
        if not max_scale >= 1:
            raise ValueError(f"max_scale must be >= 1, got {max_scale}")
        self.max_gap_s = float(max_gap_s)
        self.max_distance = float(max_distance)
        self.max_scale = float(max_scale)
        self.predict = predict
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def active(self) -> int:
        """Number of tracks held (seen within ``max_gap_s`` of the last update)."""
        return len(self._tracks)

    def update(self, time_s: float, boxes: np.ndarray) -> list[int]:
        """Match one frame's detections to the tracks and return their track ids.

        Parameters
        ----------
        time_s : float
            Frame time in seconds; NaN (a still image) counts as 0.
        boxes : np.ndarray
            ``(N, 4)`` detections ``x, y, width, height`` in pixels; ``N`` may be 0.

        Returns
        -------
        list of int
            ``N`` track ids, in the order of ``boxes``.

        Raises
        ------
        ValueError
            If ``boxes`` is not ``(N, 4)``.
        """
        boxes = np.asarray(boxes, np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (N, 4) x, y, width, height; got shape {boxes.shape}")
        t = 0.0 if math.isnan(time_s) else float(time_s)
        # A face is missing from the first analysed frame without it, so the time between
        # analysed frames (1 s with --every 24) is not a gap.
        self._tracks = [tr for tr in self._tracks if tr.missed_since is None or t - tr.missed_since <= self.max_gap_s + 1e-9]
        ids = [-1] * len(boxes)
        matched = set()
        if self._tracks and len(boxes):
            for k, j in zip(*self._match(t, boxes)):
                ids[j] = self._tracks[k].id
                self._advance(self._tracks[k], t, boxes[j])
                matched.add(k)
        for k, tr in enumerate(self._tracks):
            if k not in matched and tr.missed_since is None:
                tr.missed_since = t
        for j, box in enumerate(boxes):
            if ids[j] < 0:
                ids[j] = self._next_id
                self._tracks.append(_Track(self._next_id, box.copy(), t, np.zeros(2)))
                self._next_id += 1
        return ids

    def _match(self, t: float, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tracks = self._tracks
        pred = np.stack([tr.box for tr in tracks])
        if self.predict:
            dt = np.array([max(t - tr.time_s, 0.0) for tr in tracks])
            pred[:, :2] += np.stack([tr.velocity for tr in tracks]) * dt[:, None]
        size_t = np.sqrt(pred[:, 2] * pred[:, 3])[:, None]
        size_d = np.sqrt(boxes[:, 2] * boxes[:, 3])[None, :]
        centre_t = pred[:, :2] + pred[:, 2:] / 2
        centre_d = boxes[:, :2] + boxes[:, 2:] / 2
        dist = np.linalg.norm(centre_t[:, None, :] - centre_d[None, :, :], axis=2) / np.maximum(size_t, 1e-6)
        scale = np.maximum(size_t / np.maximum(size_d, 1e-6), size_d / np.maximum(size_t, 1e-6))
        cost = 1.0 - box_iou(pred, boxes) + dist
        cost[(dist > self.max_distance) | (scale > self.max_scale)] = _FORBIDDEN
        if min(cost.shape) == 1:  # one track or one face: the best pair is the assignment
            k = int(np.argmin(cost))
            rows, cols = np.array([k // cost.shape[1]]), np.array([k % cost.shape[1]])
        else:
            # scipy.optimize takes about 0.2 s to import: paid only when there is a real assignment.
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(cost)
        keep = cost[rows, cols] < _FORBIDDEN
        return rows[keep], cols[keep]

    @staticmethod
    def _advance(track: _Track, t: float, box: np.ndarray) -> None:
        dt = t - track.time_s
        if dt > 0:
            step = ((box[:2] + box[2:] / 2) - (track.box[:2] + track.box[2:] / 2)) / dt
            # Averaging with the previous estimate damps detector jitter.
            track.velocity = step if track.hits == 1 else 0.5 * (track.velocity + step)
        track.box = box.copy()
        track.time_s = t
        track.hits += 1
        track.missed_since = None
