"""The analyses behind ``affectkit serve``: one upload through :class:`~affectkit.pipeline.Analyzer`,
and its downloads and pictures (:mod:`affectkit.viz`).

Loaded analyzers are kept per worker thread and per set of options, so a request does
not reload the model (about 3 s), and two threads never share one analyzer.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import pandas as pd

from affectkit.errors import InputError
from affectkit.io.media import video_frame_count
from affectkit.io.write import write_table
from affectkit.pipeline import AnalyzeOptions, Analyzer
from affectkit.table import make_table

DETECTORS = ("mtcnn", "haar")
TABLE_FILES = {"csv": "table.csv", "parquet": "table.parquet", "json": "table.json"}


def options_from_form(fields: dict[str, str]) -> AnalyzeOptions:
    """:class:`AnalyzeOptions` from the page's form fields ``detector``, ``every``, ``smooth``.

    Parameters
    ----------
    fields : dict of str to str
        Missing or empty fields take the defaults (``mtcnn``, 1, 0 seconds).

    Raises
    ------
    OptionError
        One line naming the field, for a value that is not a number or out of range
        (``every`` at most 10000, ``smooth`` at most 60 s).
    """
    from affectkit.errors import OptionError

    def number(name, cast, default, top):
        text = (fields.get(name) or "").strip()
        if not text:
            return default
        try:
            value = cast(text)
        except ValueError:
            raise OptionError(name, f"{name} must be a number, got {text[:40]!r}") from None
        if not value <= top:
            raise OptionError(name, f"{name} must be at most {top}, got {value}")
        return value

    detector = (fields.get("detector") or "mtcnn").strip()
    return AnalyzeOptions(detector=detector, every=number("every", int, 1, 10000),
                          smooth=number("smooth", float, 0.0, 60.0))


class AnalyzerPool:
    """Loaded :class:`Analyzer` objects, per thread and per options (at most ``per_thread`` each).

    Parameters
    ----------
    per_thread : int
        Analyzers (distinct options) kept per thread; the least recently used goes.
    """

    def __init__(self, per_thread: int = 2):
        self.per_thread = per_thread
        self._local = threading.local()

    def get(self, options: AnalyzeOptions) -> Analyzer:
        """The calling thread's analyzer for ``options``, loaded on first use.

        Raises
        ------
        WeightsError
            If the model cannot be loaded.
        """
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = OrderedDict()
        if options in cache:
            cache.move_to_end(options)
            return cache[options]
        analyzer = cache[options] = Analyzer(options)
        while len(cache) > self.per_thread:
            cache.popitem(last=False)
        return analyzer


def frames_to_do(path: Path, kind: str, every: int) -> int | None:
    """Frames the analysis will visit (for progress); None when the container does not say."""
    if kind == "image":
        return 1
    n = video_frame_count(path)
    return math.ceil(n / every) if n else None


def analyze_upload(analyzer: Analyzer, path: Path, display: str,
                   on_frames: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Analyse one stored upload into its table.

    Parameters
    ----------
    analyzer : Analyzer
    path : Path
        The stored file (its name is the server's).
    display : str
        The client's name for it; it replaces the stored path in the ``source`` column.
    on_frames : callable, optional
        Called with the number of frames analysed after each batch.

    Returns
    -------
    table : pandas.DataFrame
        See :mod:`affectkit.table`; ``source`` is ``display``.
    notes : list of str
        The analyzer's notes about this file, with ``display`` for the path.

    Raises
    ------
    InputError
        The file cannot be decoded, or breaks off (the message is ``display: problem``,
        as the command line prints it).
    """
    start = len(analyzer.notes)
    try:
        chunks = list(analyzer.iter_tables([path], "raise", on_frames))
    except InputError as exc:
        raise InputError(display, exc.problem) from None
    df = pd.concat(chunks, ignore_index=True) if chunks else make_table([], analyzer.columns)
    notes = [n.replace(str(path), display) for n in analyzer.notes[start:]]
    del analyzer.notes[start:]
    df.attrs["stored_source"] = str(path)
    df["source"] = display
    return df, notes


def write_outputs(df: pd.DataFrame, media: Path, kind: str, folder: Path, detector: str = "mtcnn") -> dict[str, str]:
    """Write the downloads and pictures of one analysed upload into ``folder``.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`analyze_upload` (its ``attrs["stored_source"]`` names ``media``).
    media : Path
        The stored upload, for the annotated copy and the video thumbnails.
    kind : {"image", "video"}
    folder : Path
        The job's folder.
    detector : {"mtcnn", "haar"}
        For the Grad-CAM of the faces (:mod:`affectkit.explain`).

    Returns
    -------
    dict of str to str
        What was written: keys ``csv``, ``parquet``, ``json``, ``timeline``,
        ``circumplex``, ``correlation``, ``video_va`` (videos), ``gradcam`` (with a
        face, when torch is installed; a video's longest tracks, each at its frame of
        clearest expression), ``annotated``; values
        are file names in ``folder``. A picture that cannot be drawn (e.g. no face at
        all) is left out.
    """
    from affectkit import viz

    files = {}
    for key, name in TABLE_FILES.items():
        write_table(df, folder / name)
        files[key] = name
    faces = df[df["face"].notna()]
    if not df.empty:
        viz.plot_table(df, folder / "timeline.png")
        files["timeline"] = "timeline.png"
    if not faces.empty:
        viz.plot_circumplex(df, folder / "circumplex.png")
        files["circumplex"] = "circumplex.png"
        if len(faces) >= 2:
            viz.plot_expression_correlation(df, folder / "correlation.png")
            files["correlation"] = "correlation.png"
    stored = df.assign(source=df.attrs.get("stored_source", str(media)))
    if kind == "video" and not faces.empty:
        viz.plot_video_va(stored, media, folder / "video_va.png", title=str(df["source"].iloc[0]))
        files["video_va"] = "video_va.png"
    if not faces.empty and importlib.util.find_spec("torch") is not None:
        from affectkit.explain import explain_image, explain_video, plot_heatmaps

        # a video: each of the longest tracks at its frame of clearest expression
        heats = explain_image(media, detector=detector) if kind == "image" else explain_video(media, df, detector=detector)
        if heats:
            plot_heatmaps(heats, folder / "gradcam.png", title=str(df["source"].iloc[0]))
            files["gradcam"] = "gradcam.png"
    annotated = folder / ("annotated.mp4" if kind == "video" else "annotated.jpg")
    viz.annotate(stored, media, annotated)
    files["annotated"] = annotated.name
    return files
