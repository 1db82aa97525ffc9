"""Extended Cohn-Kanade, CK+ (Lucey et al. 2010, "The Extended Cohn-Kanade Dataset
(CK+): A complete dataset for action unit and emotion-specified expression", CVPR
workshops).

Layout of the release::

    root/cohn-kanade-images/S005/001/S005_001_00000011.png   (frames, onset -> peak)
    root/Emotion/S005/001/S005_001_00000011_emotion.txt      (one float code)
    root/Landmarks/S005/001/S005_001_00000011_landmarks.txt  (optional, 68 lines "x y")

Only the 327 sequences with an emotion file are labelled. Codes: 0 neutral, 1 anger,
2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise. Contempt has no basic
class, so its peak frames are dropped. There is no official split; protocols do
k-fold cross-validation by subject (``FaceSet.subjects``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.data.generic import fit_face, read_image, stack_faces
from affectkit.errors import DataError
from affectkit.expressions import class_index
from affectkit.faces.align import crop_landmark_box

CKPLUS_CODES: dict[int, str | None] = {
    0: "neutral",
    1: "anger",
    2: None,  # contempt: no basic class
    3: "disgust",
    4: "fear",
    5: "happiness",
    6: "sadness",
    7: "surprise",
}
"""CK+ emotion code -> canonical expression name (None: dropped)."""

SPLITS = ("all",)


def read_ckplus_landmarks(path: str | Path) -> np.ndarray:
    """Read a CK+ ``*_landmarks.txt`` file.

    Returns
    -------
    np.ndarray
        ``(68, 2)`` ``float32`` ``x, y`` in frame pixels.

    Raises
    ------
    DataError
        If the file is missing or not 68 rows of two numbers.
    """
    try:
        pts = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read CK+ landmarks ({exc})") from None
    if pts.shape != (68, 2):
        raise DataError(f"{path}: expected 68 rows 'x y', got shape {pts.shape}")
    return pts


def _read_code(path: Path) -> int:
    try:
        code = float(path.read_text().strip())
    except ValueError:
        raise DataError(f"{path}: expected one emotion code 0-7") from None
    if not code.is_integer() or int(code) not in CKPLUS_CODES:
        raise DataError(f"{path}: emotion code {code} is not 0-7")
    return int(code)


def load_ckplus(
    root: str | Path,
    split: str = "all",
    *,
    size: int = 48,
    grey: bool = True,
    peak_frames: int = 1,
    include_neutral: bool = True,
) -> FaceSet:
    """Load the labelled CK+ sequences (Lucey et al. 2010): peak frames, plus onsets as neutral.

    Each labelled sequence gives its last ``peak_frames`` frames with the sequence's
    emotion and, with ``include_neutral``, its first frame as ``neutral`` (when that
    frame is not one of the peak frames). Contempt sequences give only their neutral
    first frame. A frame with a landmarks file is cropped to the square landmark box
    (:func:`affectkit.faces.align.crop_landmark_box`); one without is the whole frame
    resized to a square (aspect not kept), counted in ``meta["uncropped"]``.

    Parameters
    ----------
    root : str or Path
        Folder holding ``cohn-kanade-images/``, ``Emotion/`` and optionally ``Landmarks/``.
    split : {"all"}
        CK+ has no official split.
    size : int
        Side in pixels of the returned square faces.
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.
    peak_frames : int
        How many frames from the end of each sequence to take (at least 1).
    include_neutral : bool
        Also take each labelled sequence's first frame as ``neutral``.

    Returns
    -------
    FaceSet
        Canonical class ids; no valence/arousal; subjects ``S005``-style ids; names are
        frame paths relative to ``cohn-kanade-images/``. ``meta`` counts
        ``sequences``, ``dropped_contempt`` (sequences) and ``uncropped`` (frames).

    Raises
    ------
    ValueError
        If ``peak_frames < 1``.
    DataError
        If ``split`` is not ``"all"``, a folder, a sequence's frames or a file is
        missing or malformed (the message names the path).
    """
    if peak_frames < 1:
        raise ValueError(f"peak_frames must be at least 1, got {peak_frames}")
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"{root}: CK+ has no official split; split must be 'all', not {split!r}")
    frames_root, emotion_root, landmark_root = root / "cohn-kanade-images", root / "Emotion", root / "Landmarks"
    for folder in (frames_root, emotion_root):
        if not folder.is_dir():
            raise DataError(f"{folder}: CK+ folder not found")
    emotion_files = sorted(emotion_root.glob("*/*/*_emotion.txt"))
    if not emotion_files:
        raise DataError(f"{emotion_root}: no */*/*_emotion.txt files")
    picks: list[tuple[Path, str]] = []  # (frame, canonical name)
    dropped = 0
    for emotion_file in emotion_files:
        code = _read_code(emotion_file)
        seq_dir = frames_root / emotion_file.parent.relative_to(emotion_root)
        frames = sorted(seq_dir.glob("*.png"))
        if not frames:
            raise DataError(f"{seq_dir}: no .png frames for {emotion_file.name}")
        if include_neutral and len(frames) > peak_frames:
            picks.append((frames[0], "neutral"))
        if CKPLUS_CODES[code] is None:
            dropped += 1
        else:
            picks += [(f, CKPLUS_CODES[code]) for f in frames[-peak_frames:]]
    images, uncropped = [], 0
    for frame, _ in picks:
        rgb = read_image(frame)
        lm_file = landmark_root / frame.relative_to(frames_root).parent / f"{frame.stem}_landmarks.txt"
        if lm_file.is_file():
            images.append(fit_face(crop_landmark_box(rgb, read_ckplus_landmarks(lm_file), size), size, grey))
        else:
            images.append(fit_face(rgb, size, grey))
            uncropped += 1
    labels = np.array([class_index(name) for _, name in picks], dtype=np.int64)
    _, va = FaceSet.empty_labels(len(picks))
    meta = {
        "dataset": "CK+", "root": str(root), "split": split, "peak_frames": peak_frames,
        "include_neutral": include_neutral, "sequences": len(emotion_files),
        "dropped_contempt": dropped, "uncropped": uncropped,
    }
    return FaceSet(
        stack_faces(images, size, grey), labels, va,
        [frame.name.split("_")[0] for frame, _ in picks],
        [frame.relative_to(frames_root).as_posix() for frame, _ in picks], meta,
    )
