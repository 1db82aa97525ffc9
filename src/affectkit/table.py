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
x, y             top-left corner of the face box                          pixels
width, height    face box size                                            pixels
face_score       detector confidence (empty with ``--faces-cropped``)     [0, 1]
anger ... neutral probability of each basic expression; they sum to 1    [0, 1]
expression       the most probable expression                             -
valence          how positive                                             [-1, 1]
arousal          how activated                                            [-1, 1]
landmark_*_x/_y  five landmarks (eyes, nose, mouth corners), if known     pixels
===============  ======================================================  ==========
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from affectkit.expressions import EXPRESSIONS
from affectkit.faces.types import LANDMARK_NAMES_5, Face

CORE_COLUMNS: tuple[str, ...] = (
    "source",
    "frame",
    "time_s",
    "face",
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


def face_rows(
    source: str,
    frame: int,
    time_s: float,
    faces: list[Face],
    probs: np.ndarray,
    va: np.ndarray,
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
    """
    base = {"source": source, "frame": frame, "time_s": time_s}
    if not faces:
        return [base]
    rows = []
    for i, face in enumerate(faces):
        row = dict(base, face=i, face_score=face.score)
        row.update(zip(("x", "y", "width", "height"), map(float, face.box)))
        row.update(zip(EXPRESSIONS, map(float, probs[i])))
        row["expression"] = EXPRESSIONS[int(np.argmax(probs[i]))]
        row["valence"], row["arousal"] = float(va[i, 0]), float(va[i, 1])
        if face.landmarks is not None:
            row.update(zip(LANDMARK_COLUMNS, map(float, face.landmarks.reshape(-1))))
        rows.append(row)
    return rows


def make_table(rows: list[dict]) -> pd.DataFrame:
    """Build the table with the contract's columns, order and dtypes.

    ``frame`` and ``face`` are nullable integers (``Int64``); everything numeric
    else is ``float64``; ``source`` and ``expression`` are strings.
    """
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["frame"] = df["frame"].astype("Int64")
    df["face"] = df["face"].astype("Int64")
    for col in COLUMNS:
        if col not in ("source", "frame", "face", "expression"):
            df[col] = df[col].astype("float64")
    df["source"] = df["source"].astype("string")
    df["expression"] = df["expression"].astype("string")
    return df
