"""Loaders for acted speech-emotion corpora, each returning an :class:`AudioSet`.

Labels, speakers and genders come from the corpora's file names (EmoDB, RAVDESS,
CREMA-D) or annotation files (IEMOCAP). Class names are mapped from each corpus's own
codes to the canonical names of :data:`~affectkit.audio.dataset.AUDIO_EMOTIONS`; each
set's ``class_names`` holds only the classes that corpus has, in canonical order.

None of these corpora is redistributed with affectkit; each has its own licence (see
``meta["licence"]``) and must be obtained from its authors.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from affectkit.audio.dataset import AudioSet, canonical_classes
from affectkit.errors import DataError

EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
                  "F": "happiness", "T": "sadness", "N": "neutral"}
"""EmoDB's emotion letter (6th character of a file name, German initial) -> canonical name."""

EMODB_GENDERS = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m",
                 "12": "m", "13": "f", "14": "f", "15": "m", "16": "f"}
"""EmoDB speaker id -> gender (Burkhardt et al. 2005)."""

RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness",
                    "05": "anger", "06": "fear", "07": "disgust", "08": "surprise"}
"""RAVDESS emotion code (3rd field of a file name) -> canonical name."""

CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear",
                   "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}
"""CREMA-D emotion code (3rd field of a file name) -> canonical name."""

IEMOCAP_4CLASS = {"ang": "anger", "hap": "happiness", "exc": "happiness", "neu": "neutral", "sad": "sadness"}
"""The usual 4-class IEMOCAP convention: anger, happiness (happy and excited merged),
neutral, sadness; every other label (fru, sur, fea, dis, oth, xxx) is left out."""


def _wavs(folder: Path, pattern: str = "*.wav") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _only_all(root, corpus: str, split: str) -> None:
    # These corpora define no official split: protocols split them by speaker.
    if split != "all":
        raise DataError(f"{root}: {corpus} has one split, 'all' (protocols split it by speaker), not {split!r}")


def _need_dir(root: Path, corpus: str) -> None:
    if not root.is_dir():
        raise DataError(f"{root}: {corpus} folder not found")


def _make_set(rows: list[tuple[str, str, str, str]], corpus: str, root: Path, meta: dict) -> AudioSet:
    """``rows`` of (path, canonical class, speaker, gender) -> AudioSet."""
    classes = canonical_classes({r[1] for r in rows})
    labels = np.array([classes.index(r[1]) for r in rows], dtype=np.int64)
    return AudioSet([r[0] for r in rows], labels, classes, [r[2] for r in rows], [r[3] for r in rows],
                    {"corpus": corpus, "root": str(root), **meta})


def load_emodb(root: str | Path, split: str = "all") -> AudioSet:
    """Load the Berlin Database of Emotional Speech (EmoDB; Burkhardt et al. 2005).

    File names such as ``03a01Fa.wav``: characters 1-2 speaker (03, 08-16), 3-5 text
    id, 6 the emotion letter (W anger, L boredom, E disgust, A fear, F happiness,
    T sadness, N neutral), 7 the version. Genders are from the corpus documentation.

    Parameters
    ----------
    root : str or Path
        The corpus folder holding ``wav/``, or the ``wav`` folder itself.

    split : {"all"}
        The corpus has no official split; protocols split it by speaker.

    Returns
    -------
    AudioSet
        535 recordings, 10 speakers, 7 classes for the full corpus.

    Raises
    ------
    DataError
        If the folder is missing, holds no ``.wav`` files, or a file name does not
        follow the EmoDB pattern.
    """
    _only_all(root, "EmoDB", split)
    root = Path(root)
    _need_dir(root, "EmoDB")
    folder = root / "wav" if (root / "wav").is_dir() else root
    files = _wavs(folder)
    if not files:
        raise DataError(f"{folder}: no .wav files (expected EmoDB's wav/03a01Fa.wav ...)")
    rows = []
    for f in files:
        m = re.fullmatch(r"(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])", f.stem)
        if m is None or m.group(1) not in EMODB_GENDERS:
            raise DataError(f"{f}: not an EmoDB file name (speaker, text, emotion letter, version: 03a01Fa.wav)")
        rows.append((str(f), EMODB_EMOTIONS[m.group(3)], m.group(1), EMODB_GENDERS[m.group(1)]))
    return _make_set(rows, "emodb", root, {"licence": "EmoDB: free for research, see emodb.bilderbar.info"})


def load_ravdess(root: str | Path, split: str = "all") -> AudioSet:
    """Load the speech part of RAVDESS (Livingstone & Russo 2018).

    Layout ``Actor_XX/MM-VV-EE-II-SS-RR-AA.wav``: modality MM (03 = audio only), vocal
    channel VV (01 = speech, 02 = song), emotion EE (01 neutral, 02 calm, 03 happy,
    04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity II, statement SS,
    repetition RR, actor AA (odd = male, even = female). Only audio-only speech files
    (``03-01-*``) are kept; song and video files are skipped.

    Parameters
    ----------
    root : str or Path
        Folder holding the ``Actor_XX`` folders.

    split : {"all"}
        The corpus has no official split; protocols split it by speaker.

    Returns
    -------
    AudioSet
        Up to 8 classes (anger, disgust, fear, happiness, sadness, neutral, calm,
        surprise); speaker = the two-digit actor id.

    Raises
    ------
    DataError
        If the folder is missing or holds no ``Actor_XX/03-01-*.wav`` file.
    """
    _only_all(root, "RAVDESS", split)
    root = Path(root)
    _need_dir(root, "RAVDESS")
    rows = []
    for f in sorted(root.glob("Actor_*/*.wav")):
        m = re.fullmatch(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)", f.stem)
        if m is None or m.group(1) != "03" or m.group(2) != "01" or m.group(3) not in RAVDESS_EMOTIONS:
            continue
        actor = m.group(7)
        rows.append((str(f), RAVDESS_EMOTIONS[m.group(3)], actor, "m" if int(actor) % 2 else "f"))
    if not rows:
        raise DataError(f"{root}: no RAVDESS speech files (expected Actor_01/03-01-01-01-01-01-01.wav ...)")
    return _make_set(rows, "ravdess", root, {"licence": "RAVDESS: CC BY-NC-SA 4.0"})


def load_cremad(root: str | Path, split: str = "all") -> AudioSet:
    """Load CREMA-D (Cao et al. 2014).

    Layout ``AudioWAV/1001_DFA_ANG_XX.wav``: actor 1001-1091, sentence, emotion (ANG,
    DIS, FEA, HAP, NEU, SAD), intensity. Genders come from ``VideoDemographics.csv``
    (columns ``ActorID``, ``Sex``) when it is in ``root``, else they are unknown (``""``).

    Parameters
    ----------
    root : str or Path
        The corpus folder holding ``AudioWAV/``, or the ``AudioWAV`` folder itself.

    split : {"all"}
        The corpus has no official split; protocols split it by speaker.

    Returns
    -------
    AudioSet
        6 classes; speaker = the four-digit actor id.

    Raises
    ------
    DataError
        If the folder is missing, holds no CREMA-D file, or the demographics file is
        malformed.
    """
    _only_all(root, "CREMA-D", split)
    root = Path(root)
    _need_dir(root, "CREMA-D")
    folder = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    genders: dict[str, str] = {}
    demo = root / "VideoDemographics.csv"
    if demo.is_file():
        import pandas as pd

        try:
            df = pd.read_csv(demo)
            genders = {str(a): str(s)[:1].lower() for a, s in zip(df["ActorID"], df["Sex"])}
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"{demo}: expected columns ActorID and Sex ({exc})") from None
    rows = []
    for f in _wavs(folder):
        m = re.fullmatch(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})", f.stem)
        if m is None or m.group(3) not in CREMAD_EMOTIONS:
            continue
        rows.append((str(f), CREMAD_EMOTIONS[m.group(3)], m.group(1), genders.get(m.group(1), "")))
    if not rows:
        raise DataError(f"{folder}: no CREMA-D files (expected AudioWAV/1001_DFA_ANG_XX.wav ...)")
    return _make_set(rows, "crema-d", root, {"licence": "CREMA-D: Open Database License (ODbL)"})


_IEMOCAP_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\t(\S+)\t(\S+)\t\[")


def load_iemocap(root: str | Path, split: str = "all") -> AudioSet:
    """Load IEMOCAP's improvised and scripted turns in the 4-class convention (Busso et al. 2008).

    Reads ``Session1..5/dialog/EmoEvaluation/*.txt`` lines
    ``[start - end]<TAB>TURN<TAB>emo<TAB>[V, A, D]`` and the turn audio
    ``Session*/sentences/wav/<dialog>/<TURN>.wav``. Classes follow the common 4-class
    convention (:data:`IEMOCAP_4CLASS`): anger, happiness (``hap`` and ``exc`` merged),
    neutral, sadness; turns with other labels are left out. The speaker is the session
    plus the gender letter before the turn number (``Ses01F_impro01_F000`` ->
    ``Ses01_F``), so sessions give 10 speakers for speaker-independent protocols.

    Parameters
    ----------
    root : str or Path
        Folder holding ``Session1`` ... ``Session5``.

    split : {"all"}
        The corpus has no official split; protocols split it by speaker.

    Returns
    -------
    AudioSet
        4 classes (anger, happiness, sadness, neutral).

    Raises
    ------
    DataError
        If the folder is missing, no annotation file or no 4-class turn is found, or a
        labelled turn's wav file is missing.
    """
    _only_all(root, "IEMOCAP", split)
    root = Path(root)
    _need_dir(root, "IEMOCAP")
    sessions = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not sessions:
        raise DataError(f"{root}: no Session1..Session5 folders (IEMOCAP layout)")
    rows, n_files = [], 0
    for session in sessions:
        for txt in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            n_files += 1
            for line in txt.read_text(errors="replace").splitlines():
                m = _IEMOCAP_LINE.match(line)
                if m is None or m.group(4) not in IEMOCAP_4CLASS:
                    continue
                turn = m.group(3)
                who = re.fullmatch(r"(Ses\d\d)[FM]_(.+)_([FM])\d+", turn)
                if who is None:
                    raise DataError(f"{txt}: turn name {turn!r} does not end in the speaker's F/M and a number")
                dialog = turn.rsplit("_", 1)[0]
                wav = session / "sentences" / "wav" / dialog / f"{turn}.wav"
                if not wav.is_file():
                    raise DataError(f"{wav}: audio of labelled turn {turn} (from {txt.name}) is missing")
                gender = who.group(3).lower()
                rows.append((str(wav), IEMOCAP_4CLASS[m.group(4)], f"{who.group(1)}_{who.group(3)}", gender))
    if n_files == 0:
        raise DataError(f"{root}: no Session*/dialog/EmoEvaluation/*.txt annotation files")
    if not rows:
        raise DataError(f"{root}: no turn labelled ang, hap, exc, neu or sad in the EmoEvaluation files")
    return _make_set(rows, "iemocap", root, {
        "classes": "4-class: ang, hap+exc -> happiness, neu, sad",
        "licence": "IEMOCAP: research licence from USC SAIL, not redistributable",
    })
