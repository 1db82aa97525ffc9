"""Plots of an ``analyze`` table, and annotated copies of the media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from affectkit.errors import InputError, printable
from affectkit.expressions import EXPRESSIONS
from affectkit.io.write import atomic_path

# One colour per expression, used by every plot and the annotated video.
EXPRESSION_COLOURS = {
    "anger": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happiness": "#f2b701",
    "sadness": "#1f77b4",
    "surprise": "#17becf",
    "neutral": "#7f7f7f",
}


def source_timelines(df: pd.DataFrame, source: str, max_tracks: int) -> list[tuple[str, pd.DataFrame]]:
    """The timelines of one video source to plot: one per person, on all of the source's frames.

    With ``track_id`` set, each of the ``max_tracks`` longest tracks gets its own
    timeline (indexed by frame, with NaN where the person is absent, so that lines break
    there); without it, face 0 of each frame, as tracking is off.
    """
    sub = df[df["source"] == source]
    frames = sub.groupby("frame", sort=True)["time_s"].first()
    tracked = sub.dropna(subset=["track_id"]) if "track_id" in sub else sub.iloc[:0]
    if tracked.empty:
        return [("face 0", sub.groupby("frame", sort=True).first())]
    counts = tracked["track_id"].value_counts(sort=False).sort_index()
    longest = counts.sort_values(ascending=False, kind="stable").index[:max_tracks]
    out = []
    for k in sorted(longest):
        rows = tracked[tracked["track_id"] == k].groupby("frame", sort=True).first()
        rows = rows.reindex(frames.index)
        rows["time_s"] = frames
        out.append((f"track {int(k)} ({int(counts[k])} rows)", rows))
    return out


def plot_table(df: pd.DataFrame, path: str | Path, max_sources: int = 6, max_tracks: int = 4) -> Path:
    """Plot an analyze table to a PNG/PDF/SVG, written atomically.

    For each video source (up to ``max_sources``) and each person in it (its
    ``max_tracks`` longest ``track_id`` tracks; face 0 of each frame if the table has no
    ``track_id``), one panel: valence and arousal over time (seconds) on a [-1, 1] axis,
    with a strip below coloured by the dominant expression of each frame. Lines break
    where the person is absent; imputed frames (``--impute``) are drawn pale in the
    strip. With ``--smooth`` columns present, the smoothed valence and arousal are drawn
    over the raw values, which are drawn thin. Image sources are summarised as one bar
    chart of mean expression probabilities.

    Raises
    ------
    ValueError
        If the table has no rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if df.empty:
        raise ValueError("nothing to plot: the table is empty")
    is_video = df["time_s"].notna()
    videos = list(dict.fromkeys(df.loc[is_video, "source"]))[:max_sources]
    panels = [(source, label, rows) for source in videos for label, rows in source_timelines(df, source, max_tracks)]
    has_images = (~is_video).any()
    n_panels = len(panels) + int(bool(has_images))
    fig = plt.figure(figsize=(11, 3.6 * n_panels), constrained_layout=True)
    grid = fig.add_gridspec(n_panels * 2, 1, height_ratios=[5, 1] * n_panels)
    smoothed = {"valence_smooth", "arousal_smooth"} <= set(df.columns)
    for i, (source, label, frames) in enumerate(panels):
        t = frames["time_s"].to_numpy(dtype=float)
        ax = fig.add_subplot(grid[2 * i])
        ax.axhline(0, color="black", lw=0.6)
        for name, colour in (("valence", "#2ca02c"), ("arousal", "#ff7f0e")):
            raw = frames[name].to_numpy(dtype=float)
            if smoothed:
                ax.plot(t, raw, color=colour, lw=0.7, alpha=0.45)
                ax.plot(t, frames[f"{name}_smooth"].to_numpy(dtype=float), color=colour, lw=1.8,
                        label=f"{name} (smoothed)")
            else:
                ax.plot(t, raw, color=colour, lw=1.8, label=name)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlim(t.min(), max(t.max(), t.min() + 1e-3))
        ax.set_ylabel("valence, arousal [-1, 1]")
        ax.set_title(f"{Path(str(source)).name}: {label}")
        ax.legend(loc="upper right", ncols=2, frameon=False)
        ax.tick_params(labelbottom=False)
        strip = fig.add_subplot(grid[2 * i + 1], sharex=ax)
        dt = np.median(np.diff(t)) if len(t) > 1 else 1.0
        imputed = (frames["imputed"].fillna(False).astype(bool).to_numpy() if "imputed" in frames
                   else np.zeros(len(t), bool))
        for expr, colour in EXPRESSION_COLOURS.items():
            mask = (frames["expression"] == expr).fillna(False).to_numpy(dtype=bool)
            for part, alpha in ((mask & ~imputed, 1.0), (mask & imputed, 0.35)):
                if part.any():
                    strip.bar(t[part], 1, width=dt, color=colour, alpha=alpha, align="edge", linewidth=0)
        strip.set_yticks([])
        strip.set_ylabel("expression", rotation=0, ha="right", va="center")
        strip.set_xlabel("time (s)")
    if has_images:
        ax = fig.add_subplot(grid[2 * len(panels) : 2 * len(panels) + 2])
        means = df.loc[~is_video, list(EXPRESSIONS)].mean()
        ax.bar(EXPRESSIONS, means, color=[EXPRESSION_COLOURS[e] for e in EXPRESSIONS])
        n_faces = int(df.loc[~is_video, "face"].notna().sum())
        ax.set_title(f"images: mean expression probability over {n_faces} faces")
        ax.set_ylim(0, 1)
    handles = [Patch(color=c, label=e) for e, c in EXPRESSION_COLOURS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=7, frameon=False)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def _draw(image: np.ndarray, rows: pd.DataFrame, scale: float = 1.0) -> np.ndarray:
    """Draw boxes and labels; ``scale`` is source pixels per pixel of ``image``."""
    import cv2

    out = image.copy()
    for _, r in rows.iterrows():
        if pd.isna(r["face"]):
            continue
        colour = tuple(int(EXPRESSION_COLOURS[r["expression"]][k : k + 2], 16) for k in (1, 3, 5))
        x, y, w, h = (int(round(r[c] / scale)) for c in ("x", "y", "width", "height"))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        label = f"{r['expression']} {r[r['expression']]:.2f}  V{r['valence']:+.2f} A{r['arousal']:+.2f}"
        cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out


def _fit(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Crop or pad (black) ``img`` to ``(h, w, 3)``: the encoder needs even sides."""
    out = np.zeros((h, w, 3), np.uint8)
    hh, ww = min(h, img.shape[0]), min(w, img.shape[1])
    out[:hh, :ww] = img[:hh, :ww]
    return out


def annotate(df: pd.DataFrame, source: str | Path, path: str | Path) -> Path:
    """Write a copy of ``source`` (image or video) with face boxes and predictions drawn.

    A video is written as H.264 (MPEG-4 Part 2 if the encoder is missing) at the
    source's frame rate; only frames present in ``df`` are annotated. A video that
    breaks off is annotated up to the damage (the analysis reports it). A large image
    is drawn at the scale it was analysed at. Written atomically.

    Raises
    ------
    InputError
        If ``source`` cannot be read at all.
    """
    import av

    from affectkit.io.media import iter_frames, media_kind

    source, path = Path(source), Path(path)
    rows = df[df["source"] == printable(source)]  # as the pipeline wrote it
    by_frame = {int(k): g for k, g in rows.groupby("frame")}
    if media_kind(source) == "image":
        import cv2

        frame = next(iter_frames(source))
        drawn = _draw(frame.image, by_frame.get(0, rows.iloc[:0]), frame.scale)
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
                raise InputError(path, "the annotated image could not be encoded")
        return path
    with av.open(str(source), metadata_errors="replace") as c:
        rate = c.streams.video[0].average_rate or 25
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            try:
                stream = out.add_stream("libx264", rate=rate)
            except (av.error.FFmpegError, ValueError):
                stream = out.add_stream("mpeg4", rate=rate)
            stream.pix_fmt = "yuv420p"
            try:
                for frame in iter_frames(source):
                    img = frame.image
                    if not stream.width:
                        stream.width, stream.height = max(2, img.shape[1] // 2 * 2), max(2, img.shape[0] // 2 * 2)
                    img = _draw(img, by_frame.get(frame.index, rows.iloc[:0]))
                    img = _fit(img, stream.height, stream.width)
                    for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                        out.mux(packet)
            except InputError:
                pass  # broken off: the frames before the damage are written; analyze reports the file
            if not stream.width:
                raise InputError(source, "no frame could be decoded to annotate")
            for packet in stream.encode():
                out.mux(packet)
    return path


def _save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` atomically in the format of ``path``'s suffix and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def _faces_only(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with a face, or ValueError when there is none."""
    if df.empty or df["face"].notna().sum() == 0:
        raise ValueError("nothing to plot: the table has no face")
    return df[df["face"].notna()]


def plot_circumplex(df: pd.DataFrame, path: str | Path, max_tracks: int = 6) -> Path:
    """Draw faces on the valence-arousal plane (Russell's circumplex), each track's path as a line.

    The unit circle, the two axes and the seven expressions' usual places (angles after
    Russell 1980) give the frame. Each tracked person (the ``max_tracks`` longest
    ``track_id`` tracks over all sources) is a line through its per-frame
    ``(valence, arousal)`` points in time order (``*_smooth`` values when present),
    starting at an open circle and ending at a filled one; faces without a track (and
    images) are dots coloured by their expression.

    Parameters
    ----------
    df : pandas.DataFrame
        An analyze table (:mod:`affectkit.table`); ``valence`` and ``arousal`` in [-1, 1].
    path : str or Path
        ``.png``, ``.pdf`` or ``.svg``; written atomically.
    max_tracks : int
        Most tracks drawn as paths.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If the table has no face row.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = _faces_only(df)
    v, a = ("valence_smooth", "arousal_smooth") if {"valence_smooth", "arousal_smooth"} <= set(df.columns) \
        else ("valence", "arousal")
    fig, ax = plt.subplots(figsize=(6.2, 6.2), constrained_layout=True)
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="#bbbbbb", lw=0.8)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.axvline(0, color="#999999", lw=0.6)
    places = {"happiness": 20, "surprise": 75, "fear": 115, "anger": 135, "disgust": 160, "sadness": 215}
    for expr, deg in places.items():
        x, y = 0.9 * np.cos(np.radians(deg)), 0.9 * np.sin(np.radians(deg))
        ax.text(x, y, expr, color=EXPRESSION_COLOURS[expr], ha="center", va="center", fontsize=9, alpha=0.8)
    ax.text(0, 0.05, "neutral", color=EXPRESSION_COLOURS["neutral"], ha="center", fontsize=9, alpha=0.8)
    tracked = faces[faces["track_id"].notna()] if "track_id" in faces else faces.iloc[:0]
    loose = faces.drop(tracked.index)
    if not loose.empty:
        ax.scatter(loose[v], loose[a], s=18, c=[EXPRESSION_COLOURS.get(e, "#000000") for e in loose["expression"]],
                   alpha=0.8, label="faces (no track)")
    if not tracked.empty:
        keys = tracked.groupby(["source", "track_id"]).size().sort_values(ascending=False, kind="stable")
        cmap = plt.get_cmap("tab10")
        many = tracked["source"].nunique() > 1
        for i, (source, k) in enumerate(keys.index[:max_tracks]):
            rows = tracked[(tracked["source"] == source) & (tracked["track_id"] == k)].sort_values("frame")
            xs, ys = rows[v].to_numpy(float), rows[a].to_numpy(float)
            colour = cmap(i % 10)
            label = f"track {int(k)}" + (f" ({Path(str(source)).name})" if many else "")
            ax.plot(xs, ys, color=colour, lw=1.3, alpha=0.85, label=label)
            ax.scatter(xs[:1], ys[:1], s=40, facecolors="white", edgecolors=[colour], zorder=3)
            ax.scatter(xs[-1:], ys[-1:], s=40, color=[colour], zorder=3)
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-1.1, 1.1)
    ax.set_aspect("equal")
    ax.set_xlabel("valence (negative → positive)")
    ax.set_ylabel("arousal (calm → activated)")
    ax.set_title("valence–arousal circumplex" + (" (smoothed)" if v.endswith("smooth") else ""))
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _save(fig, path)


def plot_expression_correlation(df: pd.DataFrame, path: str | Path) -> Path:
    """A heat map of the Pearson correlations between the per-frame scores of a table.

    The seven expression probabilities, valence and arousal, over the rows with a face
    (a 9 x 9 matrix, -1 to 1, each cell printed). A column that does not vary gives
    empty cells.

    Parameters
    ----------
    df : pandas.DataFrame
        An analyze table.
    path : str or Path
        ``.png``, ``.pdf`` or ``.svg``; written atomically.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If the table has fewer than two face rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = _faces_only(df)
    if len(faces) < 2:
        raise ValueError("nothing to correlate: the table has one face row")
    names = list(EXPRESSIONS) + ["valence", "arousal"]
    corr = faces[names].astype(float).corr().to_numpy()
    fig, ax = plt.subplots(figsize=(6.6, 5.6), constrained_layout=True)
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            if np.isfinite(corr[i, j]):
                ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(corr[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="Pearson r")
    ax.set_title(f"correlation of per-frame scores ({len(faces)} faces)")
    return _save(fig, path)


def plot_video_va(df: pd.DataFrame, source: str | Path, path: str | Path, thumbnails: int = 8,
                  title: str | None = None) -> Path:
    """Valence and arousal over a video under a strip of its frames (as in Jin et al. 2019).

    A row of ``thumbnails`` frames evenly spaced in time, with the face boxes drawn,
    above the mean valence and arousal of the frame's faces over time (seconds) on a
    [-1, 1] axis, with the thumbnails' times marked.

    Parameters
    ----------
    df : pandas.DataFrame
        An analyze table holding ``source``'s rows (its ``source`` column as the
        pipeline wrote it).
    source : str or Path
        The video.
    path : str or Path
        ``.png``, ``.pdf`` or ``.svg``; written atomically.
    thumbnails : int
        Frames shown, >= 1.
    title : str, optional
        The name shown for the video; default: ``source``'s file name.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If the table has no face row of ``source``.
    InputError
        If the video cannot be read.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from affectkit.io.media import iter_frames

    source = Path(source)
    rows = df[df["source"] == printable(source)]
    faces = _faces_only(rows)
    per_frame = faces.groupby("frame").agg(time_s=("time_s", "first"), valence=("valence", "mean"),
                                           arousal=("arousal", "mean"))
    frames_all = rows.groupby("frame")["time_s"].first()
    picks = set(np.unique(np.linspace(0, len(frames_all) - 1, min(thumbnails, len(frames_all))).round().astype(int)))
    wanted = {int(frames_all.index[i]) for i in picks}
    by_frame = {int(k): g for k, g in rows.groupby("frame")}
    shots = []
    try:
        for frame in iter_frames(source):
            if frame.index in wanted:
                shots.append((frame.time_s, _draw(frame.image, by_frame.get(frame.index, rows.iloc[:0]), frame.scale)))
            if frame.index >= max(wanted):
                break
    except InputError:
        if not shots:
            raise
    n = max(1, len(shots))
    fig = plt.figure(figsize=(max(8.0, 1.6 * n), 5.2), constrained_layout=True)
    grid = fig.add_gridspec(2, n, height_ratios=[1.2, 2])
    for i, (ts, img) in enumerate(shots):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(img)
        ax.set_axis_off()
        ax.set_title(f"{ts:.1f} s", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    ax.axhline(0, color="black", lw=0.6)
    full = per_frame.reindex(frames_all.index)
    t = frames_all.to_numpy(float)
    ax.plot(t, full["valence"].to_numpy(float), color="#2ca02c", lw=1.8, label="valence")
    ax.plot(t, full["arousal"].to_numpy(float), color="#ff7f0e", lw=1.8, label="arousal")
    for ts, _ in shots:
        ax.axvline(ts, color="#999999", lw=0.6, ls=":")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(t.min(), max(t.max(), t.min() + 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("valence, arousal [-1, 1]")
    ax.legend(loc="upper right", ncols=2, frameon=False)
    fig.suptitle(f"{title or source.name}: valence and arousal over the video (mean of the faces in each frame)")
    return _save(fig, path)
