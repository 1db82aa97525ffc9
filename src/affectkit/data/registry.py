"""One entry point for every face dataset: ``load_dataset("<kind>:<path>", split)``.

==============  =========================================  ==================================
kind            path                                       splits
==============  =========================================  ==================================
fer2013         image-folder root or ``fer2013.csv``       all, train, validation, test
ferplus         folder of ``ferplus_labels.csv``           all, train, validation, test
fer2013_votes   folder of ``ferplus_labels.csv``           all, train, validation, test
affectnet_csv   AffectNet-style CSV (e.g. DiffusionFER)    all, train, test (md5 held-out)
rafdb           RAF-DB ``basic`` folder                    all, train, test
ckplus          CK+ folder                                 all (k-fold by subject)
folder          ``root/[<split>/]<class>/*.jpg``           all, plus the split folders
csv             CSV with ``path[,label,valence,...]``      all, plus the ``split`` values
afew_va         AFEW-VA folder or one clip folder          all
==============  =========================================  ==================================
"""

from __future__ import annotations

import importlib
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
    loader : str
        ``"module:function"`` of ``load(path, split, size=..., grey=...) -> FaceSet``;
        imported on use, so listing the kinds imports no loader.
    splits : tuple[str, ...] or None
        The splits; None when they depend on the data (the loader checks them).
    paper : str
        Where the dataset comes from.
    """

    loader: str
    splits: tuple[str, ...] | None
    paper: str

    @property
    def load(self) -> Callable[..., FaceSet]:
        """The loader function."""
        module, _, name = self.loader.partition(":")
        return getattr(importlib.import_module(module), name)


DATASETS: dict[str, DatasetKind] = {
    "fer2013": DatasetKind("affectkit.data.fer2013:load_fer2013_faceset", ("all", "train", "validation", "test"),
                           "Goodfellow et al. 2013"),
    "ferplus": DatasetKind("affectkit.data.ferplus:load_ferplus", ("all", "train", "validation", "test"),
                           "Barsoum et al. 2016"),
    "fer2013_votes": DatasetKind("affectkit.data.ferplus:load_fer2013_votes", ("all", "train", "validation", "test"),
                                 "Goodfellow et al. 2013 labels, Barsoum et al. 2016 votes"),
    "affectnet_csv": DatasetKind("affectkit.data.affectnet_csv:load_affectnet_faceset", ("all", "train", "test"),
                                 "Mollahosseini et al. 2017 (format)"),
    "rafdb": DatasetKind("affectkit.data.rafdb:load_rafdb", ("all", "train", "test"), "Li et al. 2017"),
    "ckplus": DatasetKind("affectkit.data.ckplus:load_ckplus", ("all",), "Lucey et al. 2010"),
    "folder": DatasetKind("affectkit.data.generic:load_folder", None, "-"),
    "csv": DatasetKind("affectkit.data.generic:load_csv", None, "-"),
    "afew_va": DatasetKind("affectkit.data.afew_va:load_afew_va", ("all",), "Kossaifi et al. 2017"),
}
"""Dataset kind -> loader, splits and source paper."""


def load_dataset(spec: str, split: str = "all", *, size: int = 48, grey: bool = True, dedup: bool = False) -> FaceSet:
    """Load a face dataset named by ``"<kind>:<path>"``.

    Parameters
    ----------
    spec : str
        ``"<kind>:<path>"``; kinds and their splits are in the module docstring and
        :data:`DATASETS` (``fer2013``, ``ferplus``, ``affectnet_csv``, ``rafdb``, ``ckplus``,
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
