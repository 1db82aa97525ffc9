"""Write evaluation reports: JSON for machines, Markdown for people, a confusion-matrix PNG.

Every file is written atomically (temporary file in the same folder, then rename), so an
interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.evaluation.metrics import REGRESSION_METRICS
from affectkit.expressions import EXPRESSIONS
from affectkit.io.write import atomic_path, write_json_atomic

_HEADLINE = ("n", "accuracy", "uar", "macro_f1", "weighted_accuracy", "mean_ccc", "mean_sequence_ccc")


def plot_confusion(
    confusion: Sequence[Sequence[float]] | np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    normalize: bool = True,
) -> Path:
    """Draw a confusion matrix as a PNG heat map with the values written in the cells.

    Parameters
    ----------
    confusion : array-like
        ``(C, C)`` counts, rows = true class, columns = predicted class.
    class_names : sequence of str
        ``C`` names for the axes.
    path : str or Path
        Destination PNG; its folder must exist. Written atomically.
    normalize : bool
        Divide each row by its total (so the diagonal is the per-class recall in [0, 1]);
        empty rows stay 0.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the matrix is not square or ``class_names`` has the wrong length.
    """
    from matplotlib.figure import Figure  # Figure without pyplot renders with the Agg canvas

    cm = np.asarray(confusion, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or len(class_names) != len(cm):
        raise ValueError(
            f"plot_confusion needs a square matrix and one name per class, got {cm.shape} and {len(class_names)} names"
        )
    if normalize:
        totals = cm.sum(1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    size = 2.5 + 0.6 * len(cm)
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ticks = np.arange(len(cm))
    ax.set_xticks(ticks, list(class_names), rotation=45, ha="right")
    ax.set_yticks(ticks, list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = 0.5 if normalize else cm.max() / 2
    for i, j in np.ndindex(cm.shape):
        ax.text(j, i, f"{cm[i, j]:.2f}" if normalize else f"{cm[i, j]:.0f}", ha="center", va="center",
                fontsize=8, color="white" if cm[i, j] > high else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path


def _fmt(x) -> str:
    """A table cell: 4 decimals for floats, "n/a" for None/NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    """Markdown table lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]


def _markdown(report: dict, names: list[str] | None, title: str) -> str:
    """The Markdown text of :func:`write_report`."""
    main = report.get("pooled", report)
    lines = [f"# {title or 'Evaluation report'}", ""]
    head = [(k, main[k]) for k in _HEADLINE if k in main and main[k] is not None]
    if head:
        lines += ["## Headline metrics", "", *_table(["metric", "value"], head), ""]
    if "summary" in report:
        rows = [(k, e["mean"], e["std"], e["n"]) for k, e in report["summary"].items() if k.split("/")[-1] != "n"]
        lines += ["## Mean ± std over runs", "", *_table(["metric", "mean", "std", "n"], rows), ""]
    if "recall" in main and "confusion" in main:
        cm = np.asarray(main["confusion"])
        rows = [(names[c], main["recall"][c], int(cm[c].sum())) for c in range(len(cm))]
        lines += ["## Per-class recall", "", *_table(["class", "recall", "support"], rows), ""]
        rows = [[names[c], *map(int, cm[c])] for c in range(len(cm))]
        lines += ["## Confusion matrix (rows = true, columns = predicted)", "",
                  *_table(["true \\ pred", *names], rows), ""]
    reg = [(k, v) for k, v in main.items() if isinstance(v, dict) and "ccc" in v]
    if reg:
        # Sequence models add the per-sequence CCC (averaged over videos) to the pooled metrics.
        metrics = (("sequence_ccc",) if any("sequence_ccc" in v for _, v in reg) else ()) + REGRESSION_METRICS
        rows = [(k, *(v.get(m) for m in metrics)) for k, v in reg]
        lines += ["## Valence / arousal", "", *_table(["dimension", *metrics], rows), ""]
    if "command" in report:
        cmd = report["command"] if isinstance(report["command"], str) else " ".join(map(str, report["command"]))
        lines += ["## Command", "", "```", cmd, "```", ""]
    return "\n".join(lines)


def write_report(
    report: dict, out_dir: str | Path, *, class_names: Sequence[str] | None = None, title: str = ""
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and (with a confusion matrix) ``confusion.png``.

    Parameters
    ----------
    report : dict
        A :func:`~affectkit.evaluation.metrics.classification_report` and/or
        :func:`~affectkit.evaluation.metrics.regression_report` dict, or a
        :class:`~affectkit.evaluation.runner.Report` dict (its ``"pooled"``
        report is the headline and its ``"summary"`` gets a mean ± std table). An
        optional ``"command"`` (str or list of str) is shown in the Markdown.
    out_dir : str or Path
        Output folder, created if missing.
    class_names : sequence of str, optional
        Class names; default ``report["class_names"]``, else the seven
        :data:`~affectkit.expressions.EXPRESSIONS` for a 7-class report, else the ids.
    title : str
        Markdown heading.

    Returns
    -------
    dict
        ``{"json": Path, "md": Path}`` plus ``"png": Path`` when a confusion matrix was
        drawn.

    Raises
    ------
    ValueError
        If ``class_names`` does not match the confusion matrix.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    main = report.get("pooled", report)
    names = None
    if "confusion" in main:
        n = len(main["confusion"])
        if class_names is None:
            class_names = main.get("class_names") or (EXPRESSIONS if n == len(EXPRESSIONS) else range(n))
        names = [str(c) for c in class_names]
        if len(names) != n:
            raise ValueError(f"{len(names)} class names for a {n}-class confusion matrix")
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md"}
    write_json_atomic(paths["json"], report)
    with atomic_path(paths["md"]) as tmp:
        tmp.write_text(_markdown(report, names, title))
    if names is not None:
        paths["png"] = plot_confusion(main["confusion"], names, out_dir / "confusion.png")
    return paths
