"""One entry point for every dataset, of every modality: ``load_dataset("<kind>:<path>", split)``.

Faces (a :class:`~affectkit.data.faceset.FaceSet` of crops):

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
afew_va         AFEW-VA folder or one clip folder          all (every frame a face)
==============  =========================================  ==================================

Sequences (a :class:`~affectkit.temporal.sequences.SequenceSet` of clips):
``afew`` (AFEW folders), ``afew_va_clips`` (AFEW-VA, one sequence per clip), ``send``
(SEND-style ratings), ``seqcsv`` (a CSV of clips). Voice (an
:class:`~affectkit.audio.dataset.AudioSet` of recordings): ``emodb``, ``ravdess``,
``cremad``, ``iemocap``. All three are variants of one shape
(:mod:`affectkit.data.labelled`).

Loaders are named ``"module:function"`` and imported on use (timm's entry-point
pattern): listing the kinds imports no loader, and this bottom layer has no import
edge to the modality packages above it. Every loader takes ``(root, split, ...)``.
Several splits may be joined with ``+`` (``train+validation``).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from affectkit.data.labelled import LabelledSet
from affectkit.errors import AffectkitError, DataError

MODALITIES = ("face", "sequence", "voice")


@dataclass(frozen=True)
class DatasetKind:
    """A loader and its splits.

    Attributes
    ----------
    loader : str
        ``"module:function"`` of ``load(path, split, **options) -> LabelledSet``;
        imported on use, so listing the kinds imports no loader.
    splits : tuple[str, ...] or None
        The splits; None when they depend on the data (the loader checks them).
    paper : str
        Where the dataset comes from.
    modality : {"face", "sequence", "voice"}
        What one item is, and so which :class:`~affectkit.data.labelled.LabelledSet`
        variant the loader returns.
    """

    loader: str
    splits: tuple[str, ...] | None
    paper: str
    modality: str = "face"

    @property
    def load(self) -> Callable[..., LabelledSet]:
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
    "affectnet_csv": DatasetKind("affectkit.data.affectnet_csv:load_affectnet_csv", ("all", "train", "test"),
                                 "Mollahosseini et al. 2017 (format)"),
    "rafdb": DatasetKind("affectkit.data.rafdb:load_rafdb", ("all", "train", "test"), "Li et al. 2017"),
    "ckplus": DatasetKind("affectkit.data.ckplus:load_ckplus", ("all",), "Lucey et al. 2010"),
    "folder": DatasetKind("affectkit.data.generic:load_folder", None, "-"),
    "csv": DatasetKind("affectkit.data.generic:load_csv", None, "-"),
    "afew_va": DatasetKind("affectkit.data.afew_va:load_afew_va", ("all",), "Kossaifi et al. 2017"),
    # sequences
    "afew": DatasetKind("affectkit.temporal.corpora:load_afew", None, "Dhall et al. 2012", "sequence"),
    "afew_va_clips": DatasetKind("affectkit.temporal.corpora:load_afew_va_sequences", ("all",),
                                 "Kossaifi et al. 2017", "sequence"),
    "send": DatasetKind("affectkit.temporal.corpora:load_send", None, "Ong et al. 2019", "sequence"),
    "seqcsv": DatasetKind("affectkit.temporal.corpora:load_sequence_csv", None, "-", "sequence"),
    # voice
    "emodb": DatasetKind("affectkit.audio.corpora:load_emodb", ("all",), "Burkhardt et al. 2005", "voice"),
    "ravdess": DatasetKind("affectkit.audio.corpora:load_ravdess", ("all",), "Livingstone & Russo 2018", "voice"),
    "cremad": DatasetKind("affectkit.audio.corpora:load_cremad", ("all",), "Cao et al. 2014", "voice"),
    "iemocap": DatasetKind("affectkit.audio.corpora:load_iemocap", ("all",), "Busso et al. 2008", "voice"),
}
"""Dataset kind -> loader, splits and source paper."""


def dataset_kind(spec: str) -> tuple[str, DatasetKind, Path]:
    """Resolve ``"<kind>:<path>"`` to its kind name, registry entry and path.

    Raises
    ------
    DataError
        If the spec is not ``KIND:PATH`` or the kind is unknown (the message lists the kinds).
    """
    kind, sep, path = str(spec).partition(":")
    kind = kind.lower()
    if not sep or kind not in DATASETS or not path:
        raise DataError(f"{spec}: expected '<kind>:<path>' with kind one of {sorted(DATASETS)}")
    return kind, DATASETS[kind], Path(path).expanduser()


def load_dataset(spec: str, split: str = "all", *, modality: str | None = None, **options) -> LabelledSet:
    """Load a dataset of any modality named by ``"<kind>:<path>"``.

    Parameters
    ----------
    spec : str
        ``"<kind>:<path>"``; kinds and their splits are in the module docstring and
        :data:`DATASETS`.
    split : str
        A split of that kind (``"all"`` is every item), or several joined with ``+``.
    modality : {"face", "sequence", "voice"}, optional
        The modality the caller needs; a kind of another modality is refused.
    **options
        Passed to the loader. Faces: ``size`` (side in pixels of the returned square
        faces, default 48), ``grey`` (grey ``(N, S, S)`` instead of RGB
        ``(N, S, S, 3)`` ``uint8``, default True), and for ``fer2013`` ``dedup`` (drop
        faces byte-identical to one in an earlier split). Sequences: the frame
        sampling (``rate``, ``count``, ``size``, ``detector_name``, ``crop``; see
        :func:`affectkit.temporal.video.read_clip_faces`). Voice: none.

    Returns
    -------
    LabelledSet
        A :class:`~affectkit.data.faceset.FaceSet`, a
        :class:`~affectkit.temporal.sequences.SequenceSet` or an
        :class:`~affectkit.audio.dataset.AudioSet`, by the kind's ``modality``.

    Raises
    ------
    DataError
        If the kind is unknown (the message lists the kinds), is of another modality
        than ``modality``, has no such split, an option does not apply to the kind, or
        the data are missing or malformed.
    """
    kind, entry, path = dataset_kind(spec)
    if modality is not None and entry.modality != modality:
        wanted = sorted(k for k, e in DATASETS.items() if e.modality == modality)
        raise DataError(f"{spec}: {kind} is {entry.modality} data; {modality} data are one of {wanted}")
    if entry.modality == "face":
        options = {"size": 48, "grey": True, **options}
        if options.pop("dedup", False):
            if kind != "fer2013":
                raise DataError(f"{path}: dedup applies only to fer2013, not {kind}")
            options["dedup"] = True
    parts = []
    for part in split.split("+"):
        if entry.splits is not None and part not in entry.splits:
            raise DataError(f"{path}: {kind} splits are {entry.splits}, not {part!r}")
        loader = entry.load
        taken = inspect.signature(loader).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in taken.values()):
            extra = sorted(set(options) - set(taken))
            if extra:
                raise DataError(f"{path}: {kind} does not take the option {extra[0]!r}")
        try:
            parts.append(loader(path, part, **options))
        except AffectkitError:
            raise
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot load {kind} split {part!r} ({exc})") from None
    if len(parts) == 1:
        return parts[0]
    if not hasattr(parts[0], "concat"):
        raise DataError(f"{path}: {kind} has one split; nothing to join with '+'")
    return type(parts[0]).concat(parts)
