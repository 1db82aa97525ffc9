"""RAF-DB basic emotions (Li, Deng and Du 2017, "Reliable Crowdsourcing and Deep
Locality-Preserving Learning for Expression Recognition in the Wild", CVPR).

Layout of the release::

    root/EmoLabel/list_patition_label.txt      (sic; lines "train_00001.jpg 5")
    root/Image/aligned/train_00001_aligned.jpg (100x100 aligned faces; preferred)
    root/Image/original/train_00001.jpg        (original photos)

Codes 1..7 are Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral. The split
(``train``: 12,271, ``test``: 3,068) is the file-name prefix. Subjects are unknown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.data.generic import fit_face, read_image, stack_faces
from affectkit.errors import DataError
from affectkit.expressions import class_index

RAFDB_CODES: dict[int, str] = {
    1: "surprise",
    2: "fear",
    3: "disgust",
    4: "happiness",
    5: "sadness",
    6: "anger",
    7: "neutral",
}
"""RAF-DB basic label code -> canonical expression name."""

SPLITS = ("all", "train", "test")


def read_rafdb_labels(label_file: str | Path) -> list[tuple[str, int]]:
    """Parse ``list_patition_label.txt`` into ``(image name, RAF-DB code)`` pairs.

    Raises
    ------
    DataError
        If the file is missing or a line is not ``<train|test>_<n>.jpg <code 1-7>``.
    """
    label_file = Path(label_file)
    if not label_file.is_file():
        raise DataError(f"{label_file}: RAF-DB label file not found")
    rows = []
    for i, line in enumerate(label_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if (
            len(parts) != 2
            or parts[0].split("_")[0] not in ("train", "test")
            or not parts[1].isdigit()
            or int(parts[1]) not in RAFDB_CODES
        ):
            raise DataError(f"{label_file}: line {i} is not '<train|test>_<n>.jpg <code 1-7>': {line!r}")
        rows.append((parts[0], int(parts[1])))
    return rows


def load_rafdb(root: str | Path, split: str = "all", *, size: int = 48, grey: bool = True) -> FaceSet:
    """Load RAF-DB basic emotions (Li et al. 2017).

    The aligned faces are used when ``root/Image/aligned`` exists, else the original
    photos (whole image, resized); ``meta["images"]`` says which.

    Parameters
    ----------
    root : str or Path
        The RAF-DB ``basic`` folder (holding ``EmoLabel/`` and ``Image/``).
    split : {"all", "train", "test"}
        Official split, from the file-name prefix.
    size : int
        Side in pixels of the returned square faces.
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.

    Returns
    -------
    FaceSet
        Canonical class ids (RAF-DB code 1 -> ``surprise`` ...); no valence/arousal;
        subjects ``""``; names are the image names of the label file.

    Raises
    ------
    DataError
        If ``split`` is unknown, or the label file or an image is missing or
        malformed (the message names the path).
    """
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"{root}: RAF-DB splits are {SPLITS}, not {split!r}")
    if not root.is_dir():
        raise DataError(f"{root}: RAF-DB folder not found")
    rows = read_rafdb_labels(root / "EmoLabel" / "list_patition_label.txt")
    rows = [r for r in rows if split == "all" or r[0].startswith(split + "_")]
    aligned = (root / "Image" / "aligned").is_dir()
    images = []
    for name, _ in rows:
        stem = Path(name).stem
        path = root / "Image" / "aligned" / f"{stem}_aligned.jpg" if aligned else root / "Image" / "original" / name
        images.append(fit_face(read_image(path), size, grey))
    if not images:
        raise DataError(f"{root}: no RAF-DB images in split {split!r}")
    labels = np.array([class_index(RAFDB_CODES[code]) for _, code in rows], dtype=np.int64)
    meta = {"dataset": "RAF-DB", "root": str(root), "split": split, "images": "aligned" if aligned else "original"}
    _, va = FaceSet.empty_labels(len(rows))
    return FaceSet(stack_faces(images, size, grey), labels, va, [""] * len(rows), [n for n, _ in rows], meta)
