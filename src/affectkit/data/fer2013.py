"""FER-2013 (Goodfellow et al. 2013, ICML representation-learning challenge).

Two layouts are read:

* the Kaggle image release: ``root/{train,validation,test}/<class folder>/*.jpg``,
  where ``train`` = Training, ``validation`` = PublicTest and ``test`` = PrivateTest;
* the original ``fer2013.csv`` with columns ``emotion, pixels, Usage``.

Both give 48x48 grey ``uint8`` faces and canonical class ids (see
:mod:`affectkit.expressions`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.errors import DataError
from affectkit.expressions import EXPRESSIONS, FER2013_FOLDERS, class_index

SPLITS = ("train", "validation", "test")
_CSV_USAGE = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}


def _faces(images: np.ndarray, labels: np.ndarray, names: list[str]) -> FaceSet:
    """A FER-2013 split as a FaceSet: no valence/arousal, no subject ids."""
    _, va = FaceSet.empty_labels(len(labels))
    return FaceSet(images, np.asarray(labels, np.int64), va, [""] * len(labels), list(names))


def _read_folder_split(root: Path, split: str) -> FaceSet:
    from PIL import Image

    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: FER-2013 split folder not found")
    images, labels, names = [], [], []
    for folder, canonical in FER2013_FOLDERS.items():
        class_dir = split_dir / folder
        if not class_dir.is_dir():
            raise DataError(f"{class_dir}: FER-2013 class folder not found")
        for path in sorted(class_dir.glob("*.jpg")):
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L").resize((48, 48)), dtype=np.uint8)
            images.append(arr)
            labels.append(class_index(canonical))
            names.append(f"{split}/{folder}/{path.name}")
    if not images:
        raise DataError(f"{split_dir}: no images found")
    return _faces(np.stack(images), np.asarray(labels, dtype=np.int64), names)


def _read_csv_split(csv_path: Path, split: str) -> FaceSet:
    import pandas as pd

    try:
        df = pd.read_csv(csv_path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{csv_path}: cannot read FER-2013 CSV ({exc})") from None
    missing = {"emotion", "pixels", "Usage"} - set(df.columns)
    if missing:
        raise DataError(f"{csv_path}: missing columns {sorted(missing)}")
    usage = df["Usage"].map(_CSV_USAGE)
    rows = df[usage == split]
    images = np.stack(
        [np.asarray(p.split(), dtype=np.uint8).reshape(48, 48) for p in rows["pixels"]]
    )
    # The CSV's integer codes follow the same order as EXPRESSIONS.
    labels = rows["emotion"].to_numpy(dtype=np.int64)
    if labels.min() < 0 or labels.max() >= len(EXPRESSIONS):
        raise DataError(f"{csv_path}: emotion codes outside 0..6")
    return _faces(images, labels, [f"csv:{i}" for i in rows.index])


def load_fer2013(root: str | Path, split: str, *, cache: Path | None = None) -> FaceSet:
    """Load one FER-2013 split into memory.

    Parameters
    ----------
    root : str or Path
        The image-folder root (holding ``train/``, ``validation/``, ``test/``) or the
        path of ``fer2013.csv``.
    split : {"train", "validation", "test"}
        Official split: Training, PublicTest or PrivateTest.
    cache : Path, optional
        Folder for an ``.npz`` cache of the decoded split (decoding 28k JPEGs takes
        about 20 s). The cache key includes the root path and file count.

    Returns
    -------
    FaceSet
        48x48 grey faces, canonical class ids, no valence/arousal, subjects ``""``.

    Raises
    ------
    ValueError
        If ``split`` is not an official split.
    DataError
        If the root, a split folder or a class folder is missing, or the CSV is malformed.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: FER-2013 not found")
    if cache is not None and root.is_dir():
        n_files = sum(1 for _ in (root / split).rglob("*.jpg")) if (root / split).is_dir() else 0
        key = hashlib.md5(f"{root.resolve()}|{split}|{n_files}".encode()).hexdigest()[:12]
        cache_file = Path(cache) / f"fer2013-{split}-{key}.npz"
        if cache_file.exists():
            z = np.load(cache_file)
            return _faces(z["images"], z["labels"], list(z["names"]))
    data = _read_csv_split(root, split) if root.is_file() else _read_folder_split(root, split)
    if cache is not None and root.is_dir():
        Path(cache).mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, images=data.images, labels=data.labels, names=np.asarray(data.names))
        tmp.replace(cache_file)
    return data


def cross_split_duplicates(test: FaceSet, train: FaceSet) -> np.ndarray:
    """Mark test images whose pixels are byte-identical to some training image.

    FER-2013 holds byte-identical images across splits (see ``shared/README.md``);
    reporting accuracy without them measures generalisation rather than recall.

    Parameters
    ----------
    test, train : FaceSet

    Returns
    -------
    np.ndarray
        ``(len(test),)`` ``bool``, true where the test image also occurs in ``train``.
    """
    seen = {hashlib.md5(img.tobytes()).digest() for img in train.images}
    return np.array([hashlib.md5(img.tobytes()).digest() in seen for img in test.images])


def load_fer2013_faceset(
    root: str | Path,
    split: str = "all",
    *,
    size: int = 48,
    grey: bool = True,
    dedup: bool = False,
    cache: Path | None = None,
) -> FaceSet:
    """Load FER-2013 (Goodfellow et al. 2013) as a :class:`~affectkit.data.faceset.FaceSet`.

    Parameters
    ----------
    root : str or Path
        The image-folder root or ``fer2013.csv`` (see :func:`load_fer2013`).
    split : {"all", "train", "validation", "test"}
        Official split (Training, PublicTest, PrivateTest); ``"all"`` concatenates
        them in that order.
    size : int
        Side in pixels; the native 48x48 faces are resized with area (``BOX``)
        resampling when ``size != 48``.
    grey : bool
        Grey ``(N, S, S)`` ``uint8``; else the grey face repeated into
        ``(N, S, S, 3)`` ``uint8`` RGB.
    dedup : bool
        Drop faces whose pixels are byte-identical to a face of an earlier split
        (order train < validation < test), using :func:`cross_split_duplicates`.
        Deduplicating ``validation`` or ``test`` decodes ``train`` too (about 20 s
        for the folder layout without ``cache``).
    cache : Path, optional
        ``.npz`` cache folder for decoded folder-layout splits (see :func:`load_fer2013`).

    Returns
    -------
    FaceSet
        Canonical class ids; no valence/arousal; subjects ``""``. ``meta`` holds
        ``dropped_duplicates`` (per split) when ``dedup``.

    Raises
    ------
    DataError
        If ``split`` is not one of the above, or the data are missing or malformed.
    """
    from affectkit.data.generic import fit_face, stack_faces

    if split not in ("all", *SPLITS):
        raise DataError(f"{root}: FER-2013 splits are {('all', *SPLITS)}, not {split!r}")
    wanted = SPLITS if split == "all" else (split,)
    last = max(SPLITS.index(s) for s in wanted)
    loaded = {s: load_fer2013(root, s, cache=cache) for s in SPLITS[: last + 1] if s in wanted or dedup}
    parts, dropped = [], {}
    for i, name in enumerate(SPLITS[: last + 1]):
        if name not in wanted:
            continue
        data = loaded[name]
        if dedup and i > 0:
            earlier = [loaded[s] for s in SPLITS[:i]]
            reference = FaceSet.concat(earlier)
            keep = ~cross_split_duplicates(data, reference)
            dropped[name] = int((~keep).sum())
            data = data.subset(keep)
        parts.append(data)
    images = np.concatenate([p.images for p in parts])
    if size != 48 or not grey:
        images = stack_faces([fit_face(img, size, grey) for img in images], size, grey)
    _, va = FaceSet.empty_labels(len(images))
    labels = np.concatenate([p.labels for p in parts]).astype(np.int64)
    meta = {"dataset": "FER-2013", "root": str(root), "split": split, "dedup": dedup}
    if dedup:
        meta["dropped_duplicates"] = dropped
    return FaceSet(images, labels, va, [""] * len(images), [n for p in parts for n in p.names], meta)
