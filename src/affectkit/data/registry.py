"""One entry point for every face dataset: ``load_dataset("<kind>:<path>", split)``.

==============  =========================================  ==================================
kind            path                                       splits
==============  =========================================  ==================================
fer2013         image-folder root or ``fer2013.csv``       all, train, validation, test
affectnet_csv   AffectNet-style CSV (e.g. DiffusionFER)    all, train, test (md5 held-out)
rafdb           RAF-DB ``basic`` folder                    all, train, test
ckplus          CK+ folder                                 all (k-fold by subject)
folder          ``root/[<split>/]<class>/*.jpg``           all, plus the split folders
csv             CSV with ``path[,label,valence,...]``      all, plus the ``split`` values
afew_va         AFEW-VA folder or one clip folder          all
==============  =========================================  ==================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from affectkit.data.faceset import FaceSet
from affectkit.errors import DataError


@dataclass(frozen=True)
class DatasetKind:
    """A loader and its splits.

    Attributes
    ----------
    load : Callable
        ``load(path, split, size=..., grey=...) -> FaceSet``.
    splits : tuple[str, ...] or None
        The splits; None when they depend on the data (the loader checks them).
    paper : str
        Where the dataset comes from.
    """

    load: Callable[..., FaceSet]
    splits: tuple[str, ...] | None
    paper: str


def _fer2013(path, split, *, size, grey, dedup):
    from affectkit.data.fer2013 import load_fer2013_faceset

    return load_fer2013_faceset(path, split, size=size, grey=grey, dedup=dedup)


def _affectnet_csv(path, split, *, size, grey):
    from affectkit.data.affectnet_csv import load_affectnet_faceset

    return load_affectnet_faceset(path, split, size=size, grey=grey)


def _rafdb(path, split, *, size, grey):
    from affectkit.data.rafdb import load_rafdb

    return load_rafdb(path, split, size=size, grey=grey)


def _ckplus(path, split, *, size, grey):
    from affectkit.data.ckplus import load_ckplus

    return load_ckplus(path, split, size=size, grey=grey)


def _folder(path, split, *, size, grey):
    from affectkit.data.generic import load_folder

    return load_folder(path, split, size=size, grey=grey)


def _csv(path, split, *, size, grey):
    from affectkit.data.generic import load_csv

    return load_csv(path, split, size=size, grey=grey)


def _afew_va(path, split, *, size, grey):
    from affectkit.data.afew_va import load_afew_va

    return load_afew_va(path, split, size=size, grey=grey)


DATASETS: dict[str, DatasetKind] = {
    "fer2013": DatasetKind(_fer2013, ("all", "train", "validation", "test"), "Goodfellow et al. 2013"),
    "affectnet_csv": DatasetKind(_affectnet_csv, ("all", "train", "test"), "Mollahosseini et al. 2017 (format)"),
    "rafdb": DatasetKind(_rafdb, ("all", "train", "test"), "Li et al. 2017"),
    "ckplus": DatasetKind(_ckplus, ("all",), "Lucey et al. 2010"),
    "folder": DatasetKind(_folder, None, "-"),
    "csv": DatasetKind(_csv, None, "-"),
    "afew_va": DatasetKind(_afew_va, ("all",), "Kossaifi et al. 2017"),
}
"""Dataset kind -> loader, splits and source paper."""


def load_dataset(spec: str, split: str = "all", *, size: int = 48, grey: bool = True, dedup: bool = False) -> FaceSet:
    """Load a face dataset named by ``"<kind>:<path>"``.

    Parameters
    ----------
    spec : str
        ``"<kind>:<path>"``; kinds and their splits are in the module docstring and
        :data:`DATASETS` (``fer2013``, ``affectnet_csv``, ``rafdb``, ``ckplus``,
        ``folder``, ``csv``, ``afew_va``).
    split : str
        A split of that kind; ``"all"`` is every face.
    size : int
        Side in pixels of the returned square faces.
    grey : bool
        Grey ``(N, S, S)`` instead of RGB ``(N, S, S, 3)`` ``uint8`` images.
    dedup : bool
        ``fer2013`` only: drop faces byte-identical to one in an earlier split.

    Returns
    -------
    FaceSet

    Raises
    ------
    DataError
        If the kind is unknown (the message lists the kinds), the dataset has no such
        split, ``dedup`` is asked of a kind other than ``fer2013``, or the data are
        missing or malformed.
    """
    kind, sep, path = spec.partition(":")
    if not sep or kind not in DATASETS or not path:
        raise DataError(f"{spec}: expected '<kind>:<path>' with kind one of {sorted(DATASETS)}")
    entry, path = DATASETS[kind], Path(path).expanduser()
    if entry.splits is not None and split not in entry.splits:
        raise DataError(f"{path}: {kind} splits are {entry.splits}, not {split!r}")
    if kind == "fer2013":
        return entry.load(path, split, size=size, grey=grey, dedup=dedup)
    if dedup:
        raise DataError(f"{path}: dedup applies only to fer2013, not {kind}")
    return entry.load(path, split, size=size, grey=grey)
