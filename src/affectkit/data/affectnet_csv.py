"""AffectNet-style CSV datasets (expression code plus valence and arousal).

DiffusionFER (FER-Universe, CC0-1.0) ships ``dataset_sheet.csv`` with AffectNet's
columns ``subDirectory_filePath, valence, arousal, expression``. Valence and arousal
are in [-1, 1]; expression codes follow AffectNet (0 neutral ... 6 anger).

The held-out test split that affectkit never trains on is fixed by a hash of the
relative path: an image is in the test split when ``int(md5(path), 16) % 5 == 0``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.errors import DataError
from affectkit.expressions import AFFECTNET_CODES, class_index

REQUIRED_COLUMNS = ("subDirectory_filePath", "valence", "arousal", "expression")


def is_heldout(relative_path: str) -> bool:
    """Return True if ``relative_path`` belongs to the fixed held-out test split.

    The rule is ``int(md5(relative_path.encode()).hexdigest(), 16) % 5 == 0``, on the
    path exactly as written in the CSV.
    """
    return int(hashlib.md5(relative_path.encode()).hexdigest(), 16) % 5 == 0


def load_affectnet_csv(
    csv_path: str | Path, split: str = "all", *, size: int = 48, grey: bool = True
) -> FaceSet:
    """Load an AffectNet-style CSV (e.g. DiffusionFER) as a :class:`~affectkit.data.faceset.FaceSet`.

    AffectNet: Mollahosseini et al. 2017; DiffusionFER uses its columns and codes.

    Parameters
    ----------
    csv_path : str or Path
        The CSV; image paths are relative to its folder.
    split : {"all", "train", "test"}
        ``test`` is the md5-mod-5 held-out split (see :func:`is_heldout`), ``train``
        the rest.
    size : int
        Side in pixels the images are resized to (area interpolation).
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.

    Returns
    -------
    FaceSet
        Canonical class ids (-1 for codes without a basic class), valence/arousal
        ``(N, 2)`` ``float32`` in [-1, 1], subjects ``""``, names the CSV's paths.

    Raises
    ------
    DataError
        If ``split`` is unknown, the CSV or an image is missing, or columns or values
        are malformed.
    """
    import pandas as pd
    from PIL import Image

    if split not in ("all", "train", "test"):
        raise DataError(f"{csv_path}: AffectNet-style CSV splits are ('all', 'train', 'test'), not {split!r}")
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: AffectNet-style CSV not found")
    df = pd.read_csv(csv_path)
    missing = set(REQUIRED_COLUMNS) - set(df.columns)
    if missing:
        raise DataError(f"{csv_path}: missing columns {sorted(missing)}")
    va = df[["valence", "arousal"]].to_numpy(dtype=np.float32)
    if np.isnan(va).any() or np.abs(va).max() > 1.0 + 1e-6:
        raise DataError(f"{csv_path}: valence/arousal must be numbers in [-1, 1]")
    held = df["subDirectory_filePath"].map(is_heldout).to_numpy()
    if split != "all":
        keep = held if split == "test" else ~held
        df, va = df[keep], va[keep]
    images = []
    for rel in df["subDirectory_filePath"]:
        path = csv_path.parent / rel
        if not path.is_file():
            raise DataError(f"{path}: image listed in {csv_path.name} not found")
        with Image.open(path) as im:
            im = im.convert("L" if grey else "RGB").resize((size, size), Image.Resampling.BOX)
            images.append(np.asarray(im, dtype=np.uint8))
    labels = np.array(
        [class_index(AFFECTNET_CODES[c]) if c in AFFECTNET_CODES else -1 for c in df["expression"]],
        dtype=np.int64,
    )
    meta = {"dataset": "affectnet_csv", "root": str(csv_path), "split": split,
            "n_no_basic_class": int((labels < 0).sum())}
    return FaceSet(np.stack(images), labels, va, [""] * len(labels), list(df["subDirectory_filePath"]), meta)
