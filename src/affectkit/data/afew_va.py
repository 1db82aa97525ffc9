"""AFEW-VA (Kossaifi et al. 2017, "AFEW-VA database for valence and arousal
estimation in-the-wild", Image and Vision Computing).

Layout of the release, one folder per clip::

    root/<clip id>/00000.png ...
    root/<clip id>/<clip id>.json
        {"actor": ..., "video_id": ..., "frames": {"00000": {"valence": v,
         "arousal": a, "landmarks": [[x, y] * 68]}, ...}}

Valence and arousal are integers in -10..10, divided by 10 into [-1, 1]. Faces are
cropped to the square box of their 68 landmarks, as Ulloa et al. 2019 do. There are
no expression classes (labels -1) and no official split; the clip id is the subject.

Two entry points:

* :func:`read_afew_va_clip` reads a clip's annotations only (frame paths, valence/
  arousal, per-frame landmarks in original-frame pixels), without decoding images;
  temporal pipelines use it.
* :func:`load_afew_va` returns face crops as a :class:`FaceSet`, and with
  ``return_landmarks=True`` also the ``(N, 68, 2)`` landmarks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.data.generic import fit_face, read_image, stack_faces
from affectkit.errors import DataError
from affectkit.faces.align import crop_landmark_box

SPLITS = ("all",)
VA_SCALE = 10.0
"""AFEW-VA's valence/arousal range is -10..10; divided by this into [-1, 1]."""


@dataclass
class AfewVaClip:
    """Annotations of one AFEW-VA clip.

    Attributes
    ----------
    clip_id : str
        Folder name, e.g. ``"001"``.
    actor : str
        Actor's name from the JSON (``""`` if absent).
    frames : list[Path]
        ``N`` frame image paths, in frame order.
    va : np.ndarray
        ``(N, 2)`` ``float32`` valence and arousal in [-1, 1].
    landmarks : np.ndarray
        ``(N, 68, 2)`` ``float32`` ``x, y`` in original-frame pixels.
    """

    clip_id: str
    actor: str
    frames: list[Path]
    va: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def read_afew_va_clip(clip_dir: str | Path) -> AfewVaClip:
    """Read one clip's annotations (``<clip_dir>/<clip id>.json``); images are not decoded.

    Raises
    ------
    DataError
        If the JSON or a frame image is missing, the JSON is malformed, a frame lacks
        valence, arousal or 68 landmarks, or valence/arousal is outside -10..10.
    """
    clip_dir = Path(clip_dir)
    json_path = clip_dir / f"{clip_dir.name}.json"
    try:
        doc = json.loads(json_path.read_text())
        frames = doc["frames"]
    except FileNotFoundError:
        raise DataError(f"{json_path}: AFEW-VA annotation file not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{json_path}: malformed AFEW-VA annotations ({exc!r})") from None
    if not isinstance(frames, dict) or not frames:
        raise DataError(f"{json_path}: 'frames' is empty or not an object")
    paths, va, landmarks = [], [], []
    for key in sorted(frames):
        try:
            va.append((float(frames[key]["valence"]), float(frames[key]["arousal"])))
            pts = np.asarray(frames[key]["landmarks"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{json_path}: frame {key} lacks valence, arousal or landmarks ({exc!r})") from None
        if pts.shape != (68, 2):
            raise DataError(f"{json_path}: frame {key} has landmarks of shape {pts.shape}, expected (68, 2)")
        landmarks.append(pts)
        path = clip_dir / f"{key}.png"
        if not path.is_file():
            raise DataError(f"{path}: AFEW-VA frame listed in {json_path.name} not found")
        paths.append(path)
    va_arr = np.asarray(va, dtype=np.float32)
    if not np.isfinite(va_arr).all() or np.abs(va_arr).max() > VA_SCALE:
        raise DataError(f"{json_path}: valence/arousal must be numbers in -10..10")
    return AfewVaClip(clip_dir.name, str(doc.get("actor", "")), paths, va_arr / VA_SCALE, np.stack(landmarks))


def _clip_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"{root}: AFEW-VA folder not found")
    if (root / f"{root.name}.json").is_file():  # root is one clip
        return [root]
    clips = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not clips:
        raise DataError(f"{root}: no AFEW-VA clip folders")
    return clips


def load_afew_va(
    root: str | Path,
    split: str = "all",
    *,
    size: int = 48,
    grey: bool = True,
    margin: float = 0.0,
    return_landmarks: bool = False,
) -> FaceSet | tuple[FaceSet, np.ndarray]:
    """Load AFEW-VA (Kossaifi et al. 2017) frames cropped to their landmark box.

    Parameters
    ----------
    root : str or Path
        The dataset folder (holding clip folders) or one clip folder.
    split : {"all"}
        AFEW-VA has no official split.
    size : int
        Side in pixels of the returned square faces.
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.
    margin : float
        Fraction of the landmark box side added on every side (0: Ulloa et al. 2019).
    return_landmarks : bool
        Also return the landmarks.

    Returns
    -------
    FaceSet
        Labels -1; ``va`` ``(N, 2)`` ``float32`` in [-1, 1]; subjects are clip ids;
        names ``<clip id>/<frame>.png``; ``meta["actors"]`` maps clip id to actor.
    landmarks : np.ndarray, only with ``return_landmarks``
        ``(N, 68, 2)`` ``float32`` ``x, y`` in original-frame pixels.

    Raises
    ------
    DataError
        If ``split`` is not ``"all"``, or a folder or file is missing or malformed
        (the message names the path).
    """
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"{root}: AFEW-VA has no official split; split must be 'all', not {split!r}")
    clips = [read_afew_va_clip(d) for d in _clip_dirs(root)]
    images = [
        fit_face(crop_landmark_box(read_image(path), pts, size, margin), size, grey)
        for clip in clips
        for path, pts in zip(clip.frames, clip.landmarks)
    ]
    n = len(images)
    labels, _ = FaceSet.empty_labels(n)
    faces = FaceSet(
        stack_faces(images, size, grey), labels, np.concatenate([c.va for c in clips]),
        [c.clip_id for c in clips for _ in c.frames],
        [f"{c.clip_id}/{p.name}" for c in clips for p in c.frames],
        {"dataset": "AFEW-VA", "root": str(root), "split": split, "margin": margin,
         "actors": {c.clip_id: c.actor for c in clips}},
    )
    return (faces, np.concatenate([c.landmarks for c in clips])) if return_landmarks else faces
