"""Generic face datasets: a folder per class, or a CSV of image paths and labels.

Also holds the image helpers the other loaders share (:func:`read_image`,
:func:`fit_face`, :func:`stack_faces`), so every loader resizes and converts the same
way: PIL ``BOX`` (area) resampling to an ``S x S`` square, grey or RGB.

Folder layouts
--------------
* ``root/<class>/*.jpg`` (no splits: only ``split="all"``);
* ``root/<split>/<class>/*.jpg`` (any split folder names; ``"all"`` = every split).

Class folder names are canonical names (:data:`affectkit.expressions.EXPRESSIONS`) or
a common alias (:data:`CLASS_ALIASES`: ``angry``, ``happy``, ``sad``, ``surprised``,
``disgusted``, ``fearful``, ...), case-insensitive.

CSV layout
----------
Column ``path`` (relative to the CSV's folder), optional ``label`` (a class name or
alias, or an integer class id; empty = no label), optional ``valence`` and ``arousal``
(in [-1, 1]; empty = no label), optional ``subject`` and optional ``split``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.errors import DataError
from affectkit.expressions import EXPRESSIONS, FER2013_FOLDERS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

CLASS_ALIASES: dict[str, str] = {
    **{name: name for name in EXPRESSIONS},
    **FER2013_FOLDERS,
    "angry": "anger",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
}
"""Lower-case folder or label name -> canonical expression name."""


def canonical_name(name: str) -> str | None:
    """Canonical expression name of a class name or alias (case-insensitive), or None."""
    return CLASS_ALIASES.get(name.strip().lower())


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file of a dataset as RGB (the media reader, with dataset errors).

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` ``uint8`` RGB, ``H x W`` the file's size in pixels; grey,
        16-bit, palette and RGBA files are converted as by
        :func:`affectkit.io.media.read_image`.

    Raises
    ------
    DataError
        If the file is missing or cannot be decoded (the message starts with the path).
    """
    from affectkit.errors import InputError
    from affectkit.io.media import read_image as read_media_image

    try:
        return read_media_image(path)
    except InputError as exc:
        problem = "image not found" if exc.problem == "no such file" else f"cannot read image ({exc.problem})"
        raise DataError(f"{path}: {problem}") from None


def fit_face(image: np.ndarray, size: int, grey: bool) -> np.ndarray:
    """Resize a face image to a square with area (PIL ``BOX``) resampling.

    Parameters
    ----------
    image : np.ndarray
        ``(H, W)`` or ``(H, W, 3)`` ``uint8``.
    size : int
        Output side, pixels.
    grey : bool
        Convert to one grey channel (ITU-R 601 luma, as PIL's ``"L"``).

    Returns
    -------
    np.ndarray
        ``(size, size)`` ``uint8`` if ``grey`` else ``(size, size, 3)`` ``uint8``.
    """
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(image)).convert("L" if grey else "RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.uint8)


def stack_faces(faces: list[np.ndarray], size: int, grey: bool) -> np.ndarray:
    """Stack fitted faces into ``(N, S, S)`` or ``(N, S, S, 3)`` ``uint8`` (also for N = 0)."""
    if not faces:
        return np.zeros((0, size, size) if grey else (0, size, size, 3), dtype=np.uint8)
    return np.stack(faces)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def load_folder(root: str | Path, split: str = "all", *, size: int = 48, grey: bool = True) -> FaceSet:
    """Load faces from class-named folders, optionally inside split folders.

    Parameters
    ----------
    root : str or Path
        ``root/<class>/`` or ``root/<split>/<class>/`` (see the module docstring).
    split : str
        ``"all"``, or the name of a split folder when there are split folders.
    size : int
        Side in pixels of the returned square faces.
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.

    Returns
    -------
    FaceSet
        Canonical class labels from the folder names; no valence/arousal; subjects
        ``""``; names are paths relative to ``root``.

    Raises
    ------
    DataError
        If ``root`` is missing or empty, a class folder name is not an expression
        (the message names the folder), ``split`` is not a split folder, or an image
        cannot be read.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    top = _subdirs(root)
    if not top:
        raise DataError(f"{root}: no class or split folders")
    if any(canonical_name(d.name) for d in top):  # flat: root/<class>/
        splits: list[str] = []
        if split != "all":
            raise DataError(f"{root}: has no split folders, so split must be 'all', not {split!r}")
        parts = [root]
    else:
        splits = [d.name for d in top]
        if split != "all" and split not in splits:
            raise DataError(f"{root}: no split folder {split!r}; splits are {['all', *splits]}")
        parts = top if split == "all" else [root / split]
    images, labels, names = [], [], []
    for part in parts:
        for class_dir in _subdirs(part):
            canonical = canonical_name(class_dir.name)
            if canonical is None:
                raise DataError(
                    f"{class_dir}: folder name {class_dir.name!r} is not an expression; "
                    f"expected one of {sorted(CLASS_ALIASES)}"
                )
            for path in sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                images.append(fit_face(read_image(path), size, grey))
                labels.append(EXPRESSIONS.index(canonical))
                names.append(path.relative_to(root).as_posix())
    if not images:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders")
    no_labels, va = FaceSet.empty_labels(len(images))
    meta = {"dataset": "folder", "root": str(root), "split": split, "splits": ["all", *splits]}
    return FaceSet(stack_faces(images, size, grey), np.asarray(labels, np.int64), va, [""] * len(images), names, meta)


def _parse_label(value, csv_path: Path) -> int:
    """Class id from a CSV cell: NaN/empty -> -1, an integer id, or a class name/alias."""
    if not isinstance(value, str) or not value.strip():
        return -1
    try:
        number = float(value)
    except ValueError:
        canonical = canonical_name(value)
        if canonical is None:
            raise DataError(f"{csv_path}: unknown label {value!r}; expected a class id or one of {sorted(CLASS_ALIASES)}") from None
        return EXPRESSIONS.index(canonical)
    if not number.is_integer() or not -1 <= number < len(EXPRESSIONS):
        raise DataError(f"{csv_path}: label {value!r} is not a class id in -1..{len(EXPRESSIONS) - 1}")
    return int(number)


def load_csv(csv_path: str | Path, split: str = "all", *, size: int = 48, grey: bool = True) -> FaceSet:
    """Load faces listed in a CSV with optional labels, valence/arousal, subjects and splits.

    Parameters
    ----------
    csv_path : str or Path
        CSV with column ``path`` (relative to the CSV's folder) and optional
        ``label``, ``valence``, ``arousal``, ``subject``, ``split``.
    split : str
        ``"all"``, or a value of the ``split`` column.
    size : int
        Side in pixels of the returned square faces.
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.

    Returns
    -------
    FaceSet
        ``labels`` -1 and ``va`` NaN where the CSV has none; valence and arousal in
        [-1, 1]; names are the ``path`` cells.

    Raises
    ------
    DataError
        If the CSV or a listed image is missing (the message names it), the ``path``
        column is missing or empty, a label is unknown, valence/arousal are not
        numbers in [-1, 1], or the CSV has no rows of ``split``.
    """
    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: CSV not found")
    try:
        df = pd.read_csv(csv_path, dtype={"path": str, "label": str, "subject": str, "split": str})
    except (OSError, ValueError) as exc:
        raise DataError(f"{csv_path}: cannot read CSV ({exc})") from None
    if "path" not in df.columns:
        raise DataError(f"{csv_path}: missing column 'path' (columns are {list(df.columns)})")
    if df["path"].isna().any():
        raise DataError(f"{csv_path}: empty 'path' cell in row {int(df['path'].isna().idxmax())}")
    splits = sorted(df["split"].dropna().unique()) if "split" in df.columns else []
    if split != "all":
        if split not in splits:
            raise DataError(f"{csv_path}: no rows of split {split!r}; splits are {['all', *splits]}")
        df = df[df["split"] == split]
    if df.empty:
        raise DataError(f"{csv_path}: no rows")
    labels = np.array([_parse_label(v, csv_path) for v in df.get("label", [np.nan] * len(df))], np.int64)
    va = np.full((len(df), 2), np.nan, dtype=np.float32)
    for j, col in enumerate(("valence", "arousal")):
        if col in df.columns:
            try:
                va[:, j] = df[col].astype(float).to_numpy()
            except ValueError:
                raise DataError(f"{csv_path}: column {col!r} holds non-numbers") from None
    if (np.abs(va[np.isfinite(va)]) > 1 + 1e-6).any():
        raise DataError(f"{csv_path}: valence/arousal must be in [-1, 1]")
    subjects = [s if isinstance(s, str) else "" for s in df.get("subject", [""] * len(df))]
    images = [fit_face(read_image(csv_path.parent / p), size, grey) for p in df["path"]]
    meta = {"dataset": "csv", "root": str(csv_path), "split": split, "splits": ["all", *splits]}
    return FaceSet(stack_faces(images, size, grey), labels, va, subjects, list(df["path"]), meta)
