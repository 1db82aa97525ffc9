"""AffectNet-style CSV datasets (expression code plus valence and arousal).

DiffusionFER (FER-Universe, CC0-1.0) ships ``dataset_sheet.csv`` with AffectNet's
columns ``subDirectory_filePath, valence, arousal, expression``. Valence and arousal
are in [-1, 1]; expression codes follow AffectNet (0 neutral ... 6 anger).

The held-out test split that affectkit never trains on is fixed by a hash of the
relative path: an image is in the test split when ``int(md5(path), 16) % 5 == 0``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from affectkit.errors import DataError
from affectkit.expressions import AFFECTNET_CODES, class_index

if TYPE_CHECKING:
    from affectkit.data.faceset import FaceSet

REQUIRED_COLUMNS = ("subDirectory_filePath", "valence", "arousal", "expression")


def is_heldout(relative_path: str) -> bool:
    """Return True if ``relative_path`` belongs to the fixed held-out test split.

    The rule is ``int(md5(relative_path.encode()).hexdigest(), 16) % 5 == 0``, on the
    path exactly as written in the CSV.
    """
    return int(hashlib.md5(relative_path.encode()).hexdigest(), 16) % 5 == 0


@dataclass
class AffectArrays:
    """Faces with expression and valence/arousal labels, held in memory.

    Attributes
    ----------
    images : np.ndarray
        ``(N, S, S)`` ``uint8`` grey faces, ``S`` the requested size in pixels.
    labels : np.ndarray
        ``(N,)`` ``int64`` canonical class ids; -1 where the code has no basic class.
    va : np.ndarray
        ``(N, 2)`` ``float32`` valence and arousal in [-1, 1].
    names : list[str]
        Relative paths as in the CSV.
    """

    images: np.ndarray
    labels: np.ndarray
    va: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def load_affectnet_csv(
    csv_path: str | Path, split: str = "all", *, size: int = 48, grey: bool = True
) -> AffectArrays:
    """Load an AffectNet-style CSV and its images.

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
        Convert to one grey channel (affectkit's default model is grey).

    Raises
    ------
    DataError
        If the CSV or an image is missing, or columns or values are malformed.
    ValueError
        If ``split`` is not one of the above.
    """
    import pandas as pd
    from PIL import Image

    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
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
    return AffectArrays(np.stack(images), labels, va, list(df["subDirectory_filePath"]))


def load_affectnet_faceset(
    csv_path: str | Path, split: str = "all", size: int = 48, grey: bool = True
) -> FaceSet:
    """Load an AffectNet-style CSV (e.g. DiffusionFER) as a :class:`~affectkit.data.faceset.FaceSet`.

    Wraps :func:`load_affectnet_csv` (AffectNet: Mollahosseini et al. 2017; DiffusionFER
    uses its columns and codes).

    Parameters
    ----------
    csv_path : str or Path
        The CSV; image paths are relative to its folder.
    split : {"all", "train", "test"}
        ``test`` is the md5-mod-5 held-out split (see :func:`is_heldout`).
    size : int
        Side in pixels of the returned square faces (area resampling).
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
        If ``split`` is unknown, or the CSV or an image is missing or malformed.
    """
    from affectkit.data.faceset import FaceSet

    if split not in ("all", "train", "test"):
        raise DataError(f"{csv_path}: AffectNet-style CSV splits are ('all', 'train', 'test'), not {split!r}")
    data = load_affectnet_csv(csv_path, split, size=size, grey=grey)
    meta = {"dataset": "affectnet_csv", "root": str(csv_path), "split": split, "n_no_basic_class": int((data.labels < 0).sum())}
    return FaceSet(data.images, data.labels, data.va, [""] * len(data), data.names, meta)
