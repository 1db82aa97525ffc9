"""Plots of an ``analyze`` table, and annotated copies of the media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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


def plot_table(df: pd.DataFrame, path: str | Path, max_sources: int = 6) -> Path:
    """Plot an analyze table to a PNG/PDF/SVG, written atomically.

    For each video source (up to ``max_sources``): valence and arousal of face 0 over
    time (seconds), on a [-1, 1] axis, with a strip below coloured by the dominant
    expression of each frame; frames with no face are left blank. Image sources are
    summarised as one bar chart of mean expression probabilities.

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
    has_images = (~is_video).any()
    n_panels = len(videos) + int(bool(has_images))
    fig = plt.figure(figsize=(11, 3.6 * n_panels), constrained_layout=True)
    grid = fig.add_gridspec(n_panels * 2, 1, height_ratios=[5, 1] * n_panels)
    for i, source in enumerate(videos):
        sub = df[(df["source"] == source)]
        frames = sub.groupby("frame", sort=True).first()  # face 0, or the no-face row
        t = frames["time_s"].to_numpy()
        ax = fig.add_subplot(grid[2 * i])
        ax.axhline(0, color="black", lw=0.6)
        ax.plot(t, frames["valence"], color="#2ca02c", lw=1.8, label="valence")
        ax.plot(t, frames["arousal"], color="#ff7f0e", lw=1.8, label="arousal")
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlim(t.min(), max(t.max(), t.min() + 1e-3))
        ax.set_ylabel("valence, arousal [-1, 1]")
        ax.set_title(Path(str(source)).name)
        ax.legend(loc="upper right", ncols=2, frameon=False)
        ax.tick_params(labelbottom=False)
        strip = fig.add_subplot(grid[2 * i + 1], sharex=ax)
        dt = np.median(np.diff(t)) if len(t) > 1 else 1.0
        for expr, colour in EXPRESSION_COLOURS.items():
            mask = (frames["expression"] == expr).fillna(False).to_numpy()
            if mask.any():
                strip.bar(t[mask], 1, width=dt, color=colour, align="edge", linewidth=0)
        strip.set_yticks([])
        strip.set_ylabel("expression", rotation=0, ha="right", va="center")
        strip.set_xlabel("time (s)")
    if has_images:
        ax = fig.add_subplot(grid[2 * len(videos) : 2 * len(videos) + 2])
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


def _draw(image: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    import cv2

    out = image.copy()
    for _, r in rows.iterrows():
        if pd.isna(r["face"]):
            continue
        colour = tuple(int(EXPRESSION_COLOURS[r["expression"]][k : k + 2], 16) for k in (1, 3, 5))
        x, y, w, h = (int(round(r[c])) for c in ("x", "y", "width", "height"))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
        label = f"{r['expression']} {r[r['expression']]:.2f}  V{r['valence']:+.2f} A{r['arousal']:+.2f}"
        cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out


def annotate(df: pd.DataFrame, source: str | Path, path: str | Path) -> Path:
    """Write a copy of ``source`` (image or video) with face boxes and predictions drawn.

    A video is written as H.264 (MPEG-4 Part 2 if the encoder is missing) at the
    source's frame rate; only frames present in ``df`` are annotated. Written atomically.

    Raises
    ------
    InputError
        If ``source`` cannot be read.
    """
    import av

    from affectkit.io.media import iter_frames, media_kind

    source, path = Path(source), Path(path)
    rows = df[df["source"] == str(source)]
    by_frame = {int(k): g for k, g in rows.groupby("frame")}
    if media_kind(source) == "image":
        import cv2

        frame = next(iter_frames(source))
        with atomic_path(path) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(_draw(frame.image, by_frame.get(0, rows.iloc[:0])), cv2.COLOR_RGB2BGR))
        return path
    with av.open(str(source)) as c:
        rate = c.streams.video[0].average_rate or 25
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            try:
                stream = out.add_stream("libx264", rate=rate)
            except (av.error.FFmpegError, ValueError):
                stream = out.add_stream("mpeg4", rate=rate)
            stream.pix_fmt = "yuv420p"
            for frame in iter_frames(source):
                img = frame.image
                if not stream.width:
                    stream.width, stream.height = img.shape[1] // 2 * 2, img.shape[0] // 2 * 2
                img = _draw(img, by_frame.get(frame.index, rows.iloc[:0]))[: stream.height, : stream.width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path
