"""Sequence (video) datasets: AFEW-style clips, AFEW-VA, SEND-style ratings, a generic CSV.

Each loader returns a :class:`~affectkit.temporal.sequences.SequenceSet` of grey face
crops (or of precomputed embeddings, for the CSV), and :func:`affectkit.data.registry.load_dataset` picks one
by a ``KIND:PATH`` spec as ``affectkit train temporal`` and ``affectkit evaluate``
take it.

Only AFEW-VA has a real example here (one clip whose labels are constant), so the AFEW
and SEND loaders are tested on generated layouts; they are ready for users who have the
corpora under their licences.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from affectkit.errors import DataError
from affectkit.expressions import EXPRESSIONS, FER2013_FOLDERS
from affectkit.temporal.sequences import SequenceSet, nearest_indices, sample_times
from affectkit.temporal.video import read_clip_faces

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")
SPLIT_PREFIXES = {"train": ("train",), "validation": ("val",), "test": ("test",)}
"""Split name -> folder-name prefixes that mean it (AFEW: ``Train_AFEW``, ``Val_AFEW``;
SEND: ``Train``, ``Valid``, ``Test``)."""

# AFEW's class folders (EmotiW) -> canonical expression names.
AFEW_FOLDERS: dict[str, str] = {**FER2013_FOLDERS, "angry": "anger", "happy": "happiness", "sad": "sadness"}


def _split_dirs(root: Path, split: str, what: str) -> list[Path]:
    if split not in SPLIT_PREFIXES:
        raise DataError(f"{root}: {what} split must be one of {sorted(SPLIT_PREFIXES)}, not {split!r}")
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and d.name.lower().startswith(SPLIT_PREFIXES[split]))
    if not dirs:
        raise DataError(f"{root}: no {split} folder (a folder whose name starts with {SPLIT_PREFIXES[split][0]!r})")
    return dirs


def _sequence(path: Path, s: dict, times: np.ndarray | None = None):
    return read_clip_faces(path, rate=s.get("rate"), count=s.get("count"), times=times, detector=s.get("detector"),
                           detector_name=s.get("detector_name", "mtcnn"), crop=s.get("crop", "ng2015"),
                           size=s.get("size", 64))


def load_afew(root: str | Path, split: str = "train", **sampling) -> SequenceSet:
    """AFEW-style clips with one expression label each (Dhall et al. 2012; EmotiW).

    Layout::

        root/<split folder>/<Class>/<clip>.avi      split folder: Train_AFEW, Val_AFEW, ...
                                                   Class: Angry Disgust Fear Happy Neutral Sad Surprise

    Faces are detected in frames sampled at ``rate`` per second or to ``count`` per
    clip (Ouyang et al. 2017 use 16).

    Returns
    -------
    SequenceSet
        Crops ``(T_i, S, S)`` ``uint8``; labels in :data:`~affectkit.expressions.EXPRESSIONS`
        order; no valence/arousal (NaN); subjects are clip names (AFEW has no actor ids).

    Raises
    ------
    DataError
        If the split folder or class folders are missing, a folder is not a known
        class, or no clip is found. Clips where no face is found are skipped and listed
        in ``meta["skipped"]``; if all are skipped, DataError.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: AFEW folder not found")
    s = dict(sampling)
    clips: list[tuple[Path, int]] = []
    for split_dir in _split_dirs(root, split, "AFEW"):
        for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
            name = AFEW_FOLDERS.get(class_dir.name.lower())
            if name is None:
                continue  # AFEW releases also hold face/landmark folders next to the classes
            clips += [(p, EXPRESSIONS.index(name)) for p in sorted(class_dir.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
    if not clips:
        raise DataError(f"{root}: no AFEW clips in class folders (Angry, Disgust, ...) of split {split!r}")
    return _build([(p, lab, p.stem, None) for p, lab in clips], s, EXPRESSIONS, {"dataset": "AFEW", "root": str(root), "split": split})


def _build(items, s: dict, class_names, meta: dict) -> SequenceSet:
    """items: (path, label, subject, va_times_or_None, [va]) -> SequenceSet of crops."""
    from affectkit.errors import InputError

    if s.get("detector") is None:
        from affectkit.faces.detect import create_detector

        s["detector"] = create_detector(s.get("detector_name", "mtcnn"))
    xs, times, labels, vas, present, subjects, names, skipped = [], [], [], [], [], [], [], []
    for path, label, subject, rating in items:
        try:
            clip = _sequence(path, s, None if rating is None else rating[0])
        except InputError as exc:
            skipped.append(str(exc))
            continue
        xs.append(clip.crops)
        times.append(clip.times)
        labels.append(label)
        vas.append(np.full((len(clip.times), 2), np.nan, np.float32) if rating is None else rating[1])
        present.append(clip.present)
        subjects.append(subject)
        names.append(str(path))
    if not xs:
        raise DataError(f"{meta.get('root')}: no usable clip; " + "; ".join(skipped[:3]))
    return SequenceSet(xs, times, np.asarray(labels), vas, present, subjects, names, tuple(class_names),
                       meta={**meta, "content": "crops", "skipped": skipped, "sampling": _sampling_meta(s)})


def _sampling_meta(s: dict) -> dict:
    return {k: s.get(k) for k in ("rate", "count", "size", "detector_name", "crop")}


def load_afew_va_sequences(root: str | Path, split: str = "all", **sampling) -> SequenceSet:
    """AFEW-VA clips as sequences with per-frame valence/arousal and landmarks.

    (Kossaifi et al. 2017.) Frames are cropped to their landmark box, as the face
    loader :func:`affectkit.data.afew_va.load_afew_va` does; no detector runs. With
    neither ``rate`` nor ``count`` every frame is a step; otherwise frames are sampled
    assuming 25 frames per second (AFEW's film rate; the release does not state it).

    Returns
    -------
    SequenceSet
        Crops ``(T_i, S, S)`` ``uint8``; labels -1; ``va`` ``(T_i, 2)`` in [-1, 1];
        ``landmarks`` ``(T_i, 68, 2)``; subjects are clip ids.

    Raises
    ------
    DataError
        If ``split`` is not ``"all"`` or the layout is malformed (see
        :func:`~affectkit.data.afew_va.read_afew_va_clip`).
    """
    from affectkit.data.afew_va import _clip_dirs, read_afew_va_clip
    from affectkit.data.generic import fit_face, read_image
    from affectkit.faces.align import crop_landmark_box

    root = Path(root)
    if split != "all":
        raise DataError(f"{root}: AFEW-VA has no official split; split must be 'all', not {split!r}")
    size = int(sampling.get("size", 64))
    fps = 25.0
    xs, times, vas, lms, subjects, names = [], [], [], [], [], []
    for clip in (read_afew_va_clip(d) for d in _clip_dirs(root)):
        frame_times = np.arange(len(clip)) / fps
        if sampling.get("rate") is None and sampling.get("count") is None:
            picks = np.arange(len(clip))
        else:
            want = sample_times(len(clip) / fps, rate=None if sampling.get("count") else sampling.get("rate"),
                                count=sampling.get("count"))
            picks = nearest_indices(frame_times, want)
        xs.append(np.stack([fit_face(crop_landmark_box(read_image(clip.frames[i]), clip.landmarks[i], size), size, True)
                            for i in picks]))
        times.append(frame_times[picks])
        vas.append(clip.va[picks])
        lms.append(clip.landmarks[picks])
        subjects.append(clip.clip_id)
        names.append(str(Path(clip.frames[0]).parent))
    n = len(xs)
    return SequenceSet(xs, times, np.full(n, -1), vas, [np.ones(len(t), bool) for t in times], subjects, names,
                       EXPRESSIONS, lms, {"dataset": "AFEW-VA", "root": str(root), "split": split, "content": "crops",
                                          "sampling": {"rate": fps if sampling.get("rate") is None and sampling.get("count") is None
                                                       else sampling.get("rate"), "count": sampling.get("count"),
                                                       "size": size, "crop": "landmark_box"}})


def _read_ratings(path: Path, value_columns: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(times (T,), va (T, 2)) from a ratings CSV; columns mapped by ``value_columns``."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ratings CSV ({exc})") from None
    cols = {c.lower().strip(): c for c in df.columns}
    if "time" not in cols:
        raise DataError(f"{path}: ratings CSV needs a 'time' column (seconds); it has {list(df.columns)}")
    va = np.full((len(df), 2), np.nan, np.float32)
    found = False
    for j, dim in enumerate(("valence", "arousal")):
        col = cols.get(value_columns.get(dim, dim).lower())
        if col is not None:
            va[:, j] = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float32)
            found = True
    if not found:
        raise DataError(f"{path}: ratings CSV has no {' or '.join(value_columns.values())} column")
    t = pd.to_numeric(df[cols["time"]], errors="coerce").to_numpy(np.float64)
    finite = va[np.isfinite(va)]
    if not np.isfinite(t).all() or len(t) == 0 or np.any(np.diff(t) <= 0):
        raise DataError(f"{path}: 'time' must be increasing numbers of seconds")
    if finite.size and np.abs(finite).max() > 1.0 + 1e-6:
        raise DataError(f"{path}: ratings must be in [-1, 1]; rescale them first")
    return t, va


def load_send(root: str | Path, split: str = "train", **sampling) -> SequenceSet:
    """SEND-style clips with a valence rating every 0.5 s (Ong et al. 2019; Jin et al. 2019).

    Layout (as the Stanford Emotional Narratives Dataset is distributed)::

        root/ratings/<Train|Valid|Test>/observer_EWE/<ID>_<vid>_normalized.csv
              columns: time (s), evaluatorWeightedEstimate (valence in [-1, 1])
        root/videos/[<split>/]<ID>_<vid>.mp4      (any video suffix)

    Faces are taken at the rating times, so each rating is one step.

    Returns
    -------
    SequenceSet
        Crops; labels -1; ``va[:, 0]`` valence, ``va[:, 1]`` NaN (SEND rates valence
        only); subjects are the storyteller ids (``ID``).

    Raises
    ------
    DataError
        If the ratings folder, a rating file's video, or a usable clip is missing, or
        a ratings file is malformed.
    """
    root = Path(root)
    if not (root / "ratings").is_dir():
        raise DataError(f"{root}: SEND layout needs a 'ratings' folder")
    items = []
    for split_dir in _split_dirs(root / "ratings", split, "SEND"):
        files = sorted(split_dir.rglob("*.csv"))
        if not files:
            raise DataError(f"{split_dir}: no ratings CSV files")
        for csv in files:
            stem = csv.stem.removesuffix("_normalized")
            video = _find_video(root / "videos", stem)
            if video is None:
                raise DataError(f"{csv}: no video named {stem}.* under {root / 'videos'}")
            t, va = _read_ratings(csv, {"valence": "evaluatorWeightedEstimate"})
            items.append((video, -1, stem.split("_")[0], (t, va)))
    return _build(items, dict(sampling), EXPRESSIONS, {"dataset": "SEND", "root": str(root), "split": split})


def _find_video(folder: Path, stem: str) -> Path | None:
    if not folder.is_dir():
        return None
    for p in sorted(folder.rglob(f"{stem}.*")):
        if p.suffix.lower() in VIDEO_SUFFIXES:
            return p
    return None


def load_sequence_csv(csv: str | Path, split: str = "all", **sampling) -> SequenceSet:
    """A generic sequence dataset described by a CSV, one row per sequence.

    Columns (relative paths are relative to the CSV's folder):

    ``path`` (required)
        A video file, a folder of frame images, or a ``.npy`` array: ``(T, D)``
        float per-frame embeddings (precomputed, e.g. by ``affectkit features``), or
        ``(T, S, S)`` ``uint8`` grey face crops.
    ``label`` (optional)
        Clip class: an expression name, or any class name (then the classes are the
        sorted set of names in the file).
    ``ratings`` (optional)
        A CSV with ``time`` (s) and ``valence`` and/or ``arousal`` in [-1, 1]; steps
        are taken at those times (for ``.npy``, one rating row per step).
    ``subject``, ``split``, ``fps`` (optional)
        Subject id; ``train``/``validation``/``test`` (rows are filtered by
        ``split`` unless it is ``"all"``); frame rate of a frame folder (default 25)
        or step rate of a ``.npy`` (default 2).

    Returns
    -------
    SequenceSet
        Crops or embeddings (``meta["content"]`` is ``"crops"`` or ``"precomputed"``;
        all rows must agree).

    Raises
    ------
    DataError
        If the CSV or a referenced file is missing or malformed, rows mix content
        kinds, or no row is left after the split filter.
    """
    csv = Path(csv)
    try:
        df = pd.read_csv(csv, dtype={"label": str, "subject": str, "split": str})
    except FileNotFoundError:
        raise DataError(f"{csv}: sequence CSV not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{csv}: cannot read sequence CSV ({exc})") from None
    if "path" not in df.columns:
        raise DataError(f"{csv}: sequence CSV needs a 'path' column; it has {list(df.columns)}")
    if split != "all":
        if "split" not in df.columns:
            raise DataError(f"{csv}: split {split!r} asked for, but the CSV has no 'split' column")
        df = df[df["split"].str.lower().str.startswith(SPLIT_PREFIXES.get(split, (split,))[0])]
        if df.empty:
            raise DataError(f"{csv}: no rows with split {split!r}")
    class_names = _csv_classes(csv, df)
    base = csv.parent
    rows = df.to_dict("records")
    npy = [str(r["path"]).endswith(".npy") for r in rows]
    if any(npy) and not all(npy):
        raise DataError(f"{csv}: rows mix .npy arrays with videos/frame folders; use one kind per file")
    labels = [class_names.index(_label_name(r["label"])) if _has(r, "label") else -1 for r in rows]
    subjects = [str(r["subject"]) if _has(r, "subject") else "" for r in rows]
    meta = {"dataset": "sequence-csv", "root": str(csv), "split": split}
    if all(npy):
        return _load_npy_rows(csv, base, rows, labels, subjects, class_names, meta)
    s = dict(sampling)
    items = []
    for r, lab, subj in zip(rows, labels, subjects):
        path = base / str(r["path"])
        rating = _read_ratings(base / str(r["ratings"]), {}) if _has(r, "ratings") else None
        items.append((path, lab, subj or path.stem, rating))
    return _build(items, s, class_names, meta)


def _has(row: dict, key: str) -> bool:
    v = row.get(key)
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) != ""


def _label_name(value) -> str:
    text = str(value).strip()
    return AFEW_FOLDERS.get(text.lower(), text)


def _csv_classes(csv: Path, df: pd.DataFrame) -> tuple[str, ...]:
    if "label" not in df.columns or df["label"].dropna().empty:
        return EXPRESSIONS
    names = sorted({_label_name(v) for v in df["label"].dropna()})
    return EXPRESSIONS if set(names) <= set(EXPRESSIONS) else tuple(names)


def _load_npy_rows(csv, base, rows, labels, subjects, class_names, meta) -> SequenceSet:
    xs, times, vas = [], [], []
    kinds = set()
    for r in rows:
        path = base / str(r["path"])
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read sequence array ({exc})") from None
        if arr.ndim == 2 and np.issubdtype(arr.dtype, np.floating):
            kinds.add("precomputed")
            arr = arr.astype(np.float32)
        elif arr.ndim == 3 and arr.dtype == np.uint8:
            kinds.add("crops")
        else:
            raise DataError(f"{path}: expected (T, D) float embeddings or (T, S, S) uint8 crops, got {arr.shape} {arr.dtype}")
        if len(arr) == 0:
            raise DataError(f"{path}: the sequence is empty")
        fps = float(r["fps"]) if _has(r, "fps") else 2.0
        t = np.arange(len(arr)) / fps
        va = np.full((len(arr), 2), np.nan, np.float32)
        if _has(r, "ratings"):
            rt, rva = _read_ratings(base / str(r["ratings"]), {})
            if len(rt) != len(arr):
                raise DataError(f"{base / str(r['ratings'])}: {len(rt)} ratings for {len(arr)} steps in {path.name}")
            t, va = rt, rva
        xs.append(arr)
        times.append(t)
        vas.append(va)
    if len(kinds) > 1 or len({a.shape[1:] for a in xs}) > 1:
        raise DataError(f"{csv}: all .npy sequences must be of one kind and size")
    n = len(xs)
    return SequenceSet(xs, times, np.asarray(labels), vas, [np.ones(len(a), bool) for a in xs],
                       [s or Path(str(r["path"])).stem for s, r in zip(subjects, rows)],
                       [str(base / str(r["path"])) for r in rows], tuple(class_names),
                       meta={**meta, "content": kinds.pop()})
