"""FER+ (Barsoum et al. 2016): ten crowd votes for every FER-2013 face.

Barsoum et al., "Training Deep Networks for Facial Expression Recognition with
Crowd-Sourced Label Distribution", ICMI 2016. Ten annotators labelled each FER-2013
face with one of neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown or "not a face". The shared copy (``ferplus_labels.csv``) joins
the votes to the FER-2013 JPEGs by pixel content; its ``path`` column is relative to
the FER-2013 image folder.

A :class:`~affectkit.data.faceset.FaceSet` of FER+ holds the FER-2013 faces of a split
with

* ``labels``: FER+'s majority label when it is one of the seven classes affectkit
  shares with FER-2013 (:data:`~affectkit.expressions.EXPRESSIONS`); ``-1`` when the
  majority is contempt, unknown or not a face, or the face has no votes. Scoring
  therefore covers the seven shared classes (3,136 PrivateTest faces);
* ``soft``: the vote distribution over those seven classes (contempt, unknown and
  not-a-face votes dropped, the rest renormalised), the target of Barsoum et al.'s
  cross-entropy training; ``NaN`` rows for faces without a vote on the seven.

Contempt is not one of affectkit's seven expressions, so its votes are dropped
rather than kept as an eighth class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.errors import DataError
from affectkit.expressions import EXPRESSIONS

VOTE_COLUMNS = {e: e for e in EXPRESSIONS}
"""FER+ vote column of each affectkit expression (the names coincide)."""

SPLIT_USAGE = {"train": "Training", "validation": "PublicTest", "test": "PrivateTest"}


def _csv_and_images(path: Path) -> tuple[Path, Path]:
    """The votes CSV and the FER-2013 image folder for a ``ferplus:PATH`` spec."""
    csv = path / "ferplus_labels.csv" if path.is_dir() else path
    if not csv.is_file():
        raise DataError(f"{csv}: FER+ votes file not found (expected ferplus_labels.csv)")
    images = csv.parent.parent / "fer2013"  # the shared layout: data/ferplus and data/fer2013
    if not images.is_dir():
        raise DataError(f"{csv}: the FER-2013 image folder {images} its paths refer to is missing")
    return csv, images


def load_ferplus(root: str | Path, split: str = "all", *, size: int = 48, grey: bool = True) -> FaceSet:
    """Load a FER-2013 split with FER+ majority labels and vote distributions.

    Parameters
    ----------
    root : str or Path
        The folder holding ``ferplus_labels.csv`` (or the CSV itself); the FER-2013
        images are in the sibling folder ``fer2013``.
    split : {"all", "train", "validation", "test"}
        FER-2013's official split (Training, PublicTest, PrivateTest).
    size : int
        Side, pixels, of the returned faces (48 is native).
    grey : bool
        Grey ``(N, S, S)`` or RGB ``(N, S, S, 3)`` ``uint8``.

    Returns
    -------
    FaceSet
        Every face of the split, in FER-2013's order; ``labels`` the FER+ majority
        (``-1`` outside the seven shared classes), ``soft`` ``(N, 7)`` ``float32``
        vote distributions; ``meta["fer2013_labels"]`` keeps the original labels.

    Raises
    ------
    DataError
        If the files are missing, a column is missing, or the split is unknown.
    """
    import pandas as pd

    from affectkit.data.fer2013 import load_fer2013_faceset
    from affectkit.paths import cache_dir

    if split not in ("all", *SPLIT_USAGE):
        raise DataError(f"{root}: FER+ splits are {('all', *SPLIT_USAGE)}, not {split!r}")
    csv, images = _csv_and_images(Path(root))
    try:
        votes = pd.read_csv(csv)
    except (OSError, ValueError) as exc:
        raise DataError(f"{csv}: cannot read the FER+ votes ({' '.join(str(exc).split())[:200]})") from None
    missing = {"path", "ferplus_majority", *VOTE_COLUMNS.values()} - set(votes.columns)
    if missing:
        raise DataError(f"{csv}: FER+ votes file lacks columns {sorted(missing)}")
    faces = load_fer2013_faceset(images, split, size=size, grey=grey, cache=cache_dir())
    by_path = votes.set_index("path")
    rows = by_path.reindex(faces.names)  # NaN rows for faces FER+ has no votes for
    counts = rows[[VOTE_COLUMNS[e] for e in EXPRESSIONS]].to_numpy(dtype=np.float32)
    total = np.nansum(counts, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        soft = np.where(total > 0, counts / total, np.nan).astype(np.float32)
    index = {e: i for i, e in enumerate(EXPRESSIONS)}
    labels = np.array([index.get(m, -1) if isinstance(m, str) else -1 for m in rows["ferplus_majority"]], np.int64)
    meta = {"dataset": "FER+", "votes": str(csv), "root": str(images), "split": split,
            "paper": "Barsoum et al. 2016", "fer2013_labels": faces.labels.tolist(),
            "licence": "votes: microsoft/FERPlus (MIT); faces: FER-2013, research use"}
    return FaceSet(faces.images, labels, faces.va, faces.subjects, faces.names, meta, soft)


def load_fer2013_votes(root: str | Path, split: str = "all", *, size: int = 48, grey: bool = True) -> FaceSet:
    """FER-2013 faces with their original labels, and the FER+ vote distributions beside them.

    For training on both label sets at once (``soft_targets`` with ``soft_weight``
    below 1 blends the distribution with the original label); scoring uses the
    original FER-2013 labels. Arguments and errors as :func:`load_ferplus`.

    Returns
    -------
    FaceSet
        ``labels`` FER-2013's (``int64``, all seven classes), ``soft`` ``(N, 7)``
        ``float32`` FER+ vote distributions (``NaN`` rows without votes);
        ``meta["ferplus_labels"]`` keeps the FER+ majority labels.
    """
    plus = load_ferplus(root, split, size=size, grey=grey)
    labels = np.asarray(plus.meta.pop("fer2013_labels"), np.int64)
    meta = {**plus.meta, "dataset": "FER-2013 with FER+ votes", "ferplus_labels": plus.labels.tolist()}
    return FaceSet(plus.images, labels, plus.va, plus.subjects, plus.names, meta, plus.soft)
