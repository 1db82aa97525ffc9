"""The ``analyze`` table: its public column contract and how rows are built.

One row per face per frame; a frame with no face gets one row whose face fields
are empty, so that a timeline has no silent gaps. Scripts that evaluate affectkit
read these column names, so they are kept stable.

===============  ======================================================  ==========
column           meaning                                                 unit
===============  ======================================================  ==========
source           input file path as given                                 -
frame            frame index in the source (0 for an image)               frames
time_s           presentation time (empty for an image)                   seconds
face             face number within the frame, 0.. (empty: no face)       -
track_id         the person across frames, 0.. per source, in order of    -
                 first appearance (empty: no face, or ``--no-track``)
imputed          True for a row filled in by ``--impute`` (no detection   -
                 in that frame; face fields empty), else False
x, y             top-left corner of the face box                          pixels
width, height    face box size                                            pixels
face_score       detector confidence (empty with ``--faces-cropped``)     [0, 1]
anger ... neutral probability of each basic expression; they sum to 1    [0, 1]
expression       the most probable expression                             -
valence          how positive                                             [-1, 1]
arousal          how activated                                            [-1, 1]
landmark_*_x/_y  five landmarks (eyes, nose, mouth corners), if known     pixels
===============  ======================================================  ==========

With ``--smooth`` the table ends with :data:`SMOOTH_COLUMNS`: ``anger_smooth`` ...
``neutral_smooth``, ``expression_smooth``, ``valence_smooth``, ``arousal_smooth``,
the per-track smoothed values (see :mod:`affectkit.timeline`); the raw columns are
kept as they are.

With ``--audio`` it ends with :data:`VOICE_COLUMNS`: ``voice_anger`` ... ``voice_neutral``
and ``voice_expression`` (the voice model's probabilities over the 2-second window
centred nearest the frame, mapped onto the seven expressions; ``voice_surprise`` is
empty because speech corpora have no surprise class), then ``fused_anger`` ...
``fused_neutral`` and ``fused_expression``, the per-class mean of face and voice (see
:mod:`affectkit.audio.voice`). They are empty where there is no sound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from affectkit.errors import InputError
from affectkit.expressions import EXPRESSIONS
from affectkit.faces.types import LANDMARK_NAMES_5, Face

CORE_COLUMNS: tuple[str, ...] = (
    "source",
    "frame",
    "time_s",
    "face",
    "track_id",
    "imputed",
    "x",
    "y",
    "width",
    "height",
    "face_score",
    *EXPRESSIONS,
    "expression",
    "valence",
    "arousal",
)
LANDMARK_COLUMNS: tuple[str, ...] = tuple(
    f"landmark_{name}_{axis}" for name in LANDMARK_NAMES_5 for axis in ("x", "y")
)
COLUMNS = CORE_COLUMNS + LANDMARK_COLUMNS
SMOOTH_COLUMNS: tuple[str, ...] = (
    *(f"{e}_smooth" for e in EXPRESSIONS), "expression_smooth", "valence_smooth", "arousal_smooth"
)
VOICE_COLUMNS: tuple[str, ...] = (
    *(f"voice_{e}" for e in EXPRESSIONS), "voice_expression", *(f"fused_{e}" for e in EXPRESSIONS), "fused_expression"
)
_INTEGER = ("frame", "face", "track_id")
_STRING = ("source", "expression", "expression_smooth", "voice_expression", "fused_expression")
_FLOAT = frozenset(COLUMNS + SMOOTH_COLUMNS + VOICE_COLUMNS) - {*_INTEGER, *_STRING, "imputed"}


def table_columns(smooth: bool = False, audio: bool = False) -> tuple[str, ...]:
    """The table's columns in order: :data:`COLUMNS`, then :data:`SMOOTH_COLUMNS` if
    ``smooth``, then :data:`VOICE_COLUMNS` if ``audio``."""
    return COLUMNS + (SMOOTH_COLUMNS if smooth else ()) + (VOICE_COLUMNS if audio else ())


def face_rows(
    source: str,
    frame: int,
    time_s: float,
    faces: list[Face],
    probs: np.ndarray,
    va: np.ndarray,
    track_ids: Sequence[int] | None = None,
) -> list[dict]:
    """Rows for one frame.

    Parameters
    ----------
    faces : list of Face
        The frame's faces (may be empty: then one row with empty face fields).
    probs : np.ndarray
        ``(len(faces), 7)`` probabilities.
    va : np.ndarray
        ``(len(faces), 2)`` valence and arousal.
    track_ids : sequence of int, optional
        ``len(faces)`` track ids (see :mod:`affectkit.faces.tracking`); None leaves
        ``track_id`` empty.
    """
    base = {"source": source, "frame": frame, "time_s": time_s, "imputed": False}
    if not faces:
        return [base]
    rows = []
    for i, face in enumerate(faces):
        row = dict(base, face=i, face_score=face.score)
        if track_ids is not None:
            row["track_id"] = int(track_ids[i])
        row.update(zip(("x", "y", "width", "height"), map(float, face.box)))
        row.update(zip(EXPRESSIONS, map(float, probs[i])))
        # A valence/arousal-only model gives NaN probabilities: no expression then.
        row["expression"] = None if np.isnan(probs[i]).all() else EXPRESSIONS[int(np.argmax(probs[i]))]
        row["valence"], row["arousal"] = float(va[i, 0]), float(va[i, 1])
        if face.landmarks is not None:
            row.update(zip(LANDMARK_COLUMNS, map(float, face.landmarks.reshape(-1))))
        rows.append(row)
    return rows


def make_table(rows: list[dict], columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """Build the table with the contract's columns, order and dtypes.

    ``frame``, ``face`` and ``track_id`` are nullable integers (``Int64``);
    ``imputed`` is ``bool``; ``source``, ``expression`` and ``expression_smooth`` are
    strings; everything else is ``float64``.

    Parameters
    ----------
    rows : list of dict
        Rows as :func:`face_rows` makes them; missing keys become empty.
    columns : sequence of str
        :data:`COLUMNS` or :func:`table_columns` ``(smooth=True)``.
    """
    return coerce_table(pd.DataFrame(rows, columns=list(columns)))


def coerce_table(df: pd.DataFrame) -> pd.DataFrame:
    """Give the contract's dtypes to a table's columns (e.g. one read back from CSV), in place.

    Columns that are not the contract's are left as they are.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself.
    """
    for col in df.columns:
        if col in _INTEGER:
            df[col] = df[col].astype("Int64")
        elif col in _STRING:
            df[col] = df[col].astype("string")
        elif col == "imputed":
            df[col] = df[col].eq(True)  # missing or NaN -> False
        elif col in _FLOAT:
            df[col] = df[col].astype("float64")
    return df


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by ``affectkit analyze`` (CSV, Parquet or JSON) with its dtypes.

    Raises
    ------
    InputError
        If the file is missing, of another format, or cannot be parsed.
    """
    path = Path(path)
    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": pd.read_json}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(path, f"a table is read from one of {', '.join(readers)}")
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        df = reader(path, dtype=False) if reader is pd.read_json else reader(path)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the table ({exc})") from None
    return coerce_table(df)
