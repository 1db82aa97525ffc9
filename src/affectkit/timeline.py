"""Per-track timelines: fill short gaps and smooth the values, streaming.

Works on the rows of one source (see :mod:`affectkit.table`), frame by frame, in time
order, after tracking has set ``track_id``. Two optional steps, per track:

* **Imputation** (Jin et al. 2019: missing frames filled with a moving average).
  When a track's face is missing in some frames and found again at most ``impute_s``
  seconds after it was last seen, each missing frame gets a row with
  ``imputed=True``: its probabilities, valence and arousal are the mean of the
  track's *measured* values within ``impute_s / 2`` seconds on either side (a centred
  moving average of width ``impute_s``; the two faces bounding the gap are always
  inside it), its face fields (box, score, landmarks, ``face``) are empty. Gaps
  longer than ``impute_s``, and the ends of a track, are not filled.
* **Smoothing**: a causal, time-aware exponential moving average with time constant
  ``smooth_s`` seconds: ``s = s_prev + (1 - exp(-dt / smooth_s)) * (x - s_prev)``,
  ``dt`` the seconds since the track's previous row, so uneven frame spacing
  (``--every``, gaps) is weighted correctly. It lags the raw series by about
  ``smooth_s`` seconds. The raw columns are kept; the smoothed values go to
  ``<column>_smooth`` columns (see :data:`affectkit.table.SMOOTH_COLUMNS`), and
  ``expression_smooth`` is the most probable smoothed expression. Imputed rows are
  smoothed too; rows without a track are left empty.

Memory is bounded: imputation holds back the frames of the last ``impute_s`` seconds
(the longest a gap can take to close) and the measured values of the last
``1.5 * impute_s`` seconds per track; smoothing holds one vector per active track.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from affectkit.expressions import EXPRESSIONS

VALUE_COLUMNS: tuple[str, ...] = (*EXPRESSIONS, "valence", "arousal")
"""The per-face values that are imputed and smoothed, in this vector order."""

_EPS = 1e-6  # seconds; frame times are rationals turned into floats
_FORGET = 20.0  # drop a track's smoothing state after 20 time constants (weight < 1e-8)


@dataclass
class _Frame:
    time_s: float
    rows: list[dict]
    missing: list[int] = field(default_factory=list)  # tracks to impute in this frame


def _values(row: dict) -> np.ndarray:
    return np.array([row[c] for c in VALUE_COLUMNS], np.float64)


def _put(row: dict, values: np.ndarray, suffix: str = "") -> None:
    for c, v in zip(VALUE_COLUMNS, values):
        row[c + suffix] = float(v)
    row["expression" + suffix] = EXPRESSIONS[int(np.argmax(values[: len(EXPRESSIONS)]))]


class Timeline:
    """Streaming gap filling and smoothing of one source's rows, per track.

    Parameters
    ----------
    smooth_s : float
        Time constant of the exponential moving average, seconds; 0 turns smoothing off.
    impute_s : float
        Longest gap filled and width of the centred moving-average window, seconds
        (Jin et al. 2019); 0 turns imputation off.

    Raises
    ------
    ValueError
        If a parameter is negative or not finite.

    Examples
    --------
    >>> tl = Timeline(smooth_s=0.5, impute_s=1.0)
    >>> for t, rows in frames:            # rows of one frame, with track_id set
    ...     write(tl.push(t, rows))       # rows whose frames are final, in order
    >>> write(tl.flush())                 # the frames still held back
    """

    def __init__(self, smooth_s: float = 0.0, impute_s: float = 0.0):
        for name, value in (("smooth_s", smooth_s), ("impute_s", impute_s)):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0 seconds, got {value}")
        self.smooth_s = float(smooth_s)
        self.impute_s = float(impute_s)
        self._pending: deque[_Frame] = deque()
        self._last_seen: dict[int, float] = {}  # measured time per track, for gap detection
        self._history: dict[int, deque[tuple[float, np.ndarray]]] = {}  # measured values per track
        self._ema: dict[int, tuple[float, np.ndarray]] = {}

    @property
    def held_frames(self) -> int:
        """Frames held back waiting for the imputation look-ahead."""
        return len(self._pending)

    @property
    def held_values(self) -> int:
        """Measured value vectors kept for the moving average, over all tracks."""
        return sum(len(h) for h in self._history.values())

    def push(self, time_s: float, rows: list[dict]) -> list[dict]:
        """Add one frame's rows; return the rows of the frames that are now final.

        Parameters
        ----------
        time_s : float
            The frame's time in seconds (frames must come in time order). NaN (a
            still image) passes the rows through, with smoothed values equal to raw.
        rows : list of dict
            The frame's rows (at least one), as :func:`affectkit.table.face_rows`
            makes them, with ``track_id`` set on face rows.

        Returns
        -------
        list of dict
            Rows of whole frames, in time order; a frame is held back for up to
            ``impute_s`` seconds, so that a gap through it can close first.
        """
        if math.isnan(time_s):
            return self._finish(_Frame(time_s, rows))
        if self.impute_s > 0:
            self._note_measured(time_s, rows)
        self._pending.append(_Frame(time_s, rows))
        out: list[dict] = []
        while self._pending and (self.impute_s == 0 or self._pending[0].time_s < time_s - self.impute_s - _EPS):
            out += self._finish(self._pending.popleft())
        return out

    def flush(self) -> list[dict]:
        """Return the rows of every frame still held back (call at the end of a source)."""
        out: list[dict] = []
        while self._pending:
            out += self._finish(self._pending.popleft())
        return out

    def _note_measured(self, t: float, rows: list[dict]) -> None:
        # Forget tracks that can no longer close a fillable gap.
        for k in [k for k, seen in self._last_seen.items() if t - seen > self.impute_s + _EPS]:
            del self._last_seen[k]
        for row in rows:
            k = _track(row)
            if k is None:
                continue
            last = self._last_seen.get(k)
            if last is not None and t - last <= self.impute_s + _EPS:
                for frame in self._pending:  # frames in the gap; all still held back
                    if last < frame.time_s < t:
                        frame.missing.append(k)
            self._last_seen[k] = t
            self._history.setdefault(k, deque()).append((t, _values(row)))

    def _finish(self, frame: _Frame) -> list[dict]:
        rows = frame.rows
        if frame.missing:
            filled = [self._imputed_row(rows[0], k, frame.time_s) for k in sorted(set(frame.missing))]
            # A frame with no face had one empty row; the imputed rows stand in for it.
            rows = filled if len(rows) == 1 and rows[0].get("face") is None else rows + filled
        if self.impute_s > 0:
            for k, h in list(self._history.items()):  # later frames look back at most impute_s / 2
                while h and h[0][0] < frame.time_s - self.impute_s / 2 - _EPS:
                    h.popleft()
                if not h:
                    del self._history[k]
        if self.smooth_s > 0:
            for row in rows:
                self._smooth(row, frame.time_s)
            for k in [k for k, (seen, _) in self._ema.items() if frame.time_s - seen > _FORGET * self.smooth_s]:
                del self._ema[k]
        return rows

    def _imputed_row(self, base: dict, k: int, t: float) -> dict:
        near = [v for s, v in self._history.get(k, ()) if abs(s - t) <= self.impute_s / 2 + _EPS]
        row = {"source": base["source"], "frame": base["frame"], "time_s": base["time_s"],
               "track_id": k, "imputed": True}
        _put(row, np.mean(near, axis=0))
        return row

    def _smooth(self, row: dict, t: float) -> None:
        k = _track(row)
        if k is None:
            return
        x = _values(row)
        prev = self._ema.get(k)
        if prev is None or math.isnan(t):
            s = x
        else:
            alpha = 1.0 - math.exp(-max(t - prev[0], 0.0) / self.smooth_s)
            s = prev[1] + alpha * (x - prev[1])
        if not math.isnan(t):
            self._ema[k] = (t, s)
        _put(row, s, "_smooth")


def _track(row: dict) -> int | None:
    k = row.get("track_id")
    return None if k is None or k != k else int(k)  # k != k: NaN
