"""The ``affectkit`` command line; each command mirrors a Python function.

Errors the user can fix are printed as one line (``error: <file>: <problem>``) with a
non-zero exit, never as a traceback.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from affectkit.errors import AffectkitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Emotion recognition from faces in images and video.")


class Detector(str, Enum):
    mtcnn = "mtcnn"
    haar = "haar"


class TTA(str, Enum):
    none = "none"
    flip = "flip"
    multi = "multi"


class Crop(str, Enum):
    ng2015 = "ng2015"
    landmark_box = "landmark_box"
    box = "box"


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def analyze(
    inputs: List[Path] = typer.Argument(..., help="Images, folders and videos, in any mix."),
    output: Path = typer.Option(..., "-o", "--output", help="Table to write: .csv, .parquet or .json."),
    every: int = typer.Option(1, "--every", min=1, help="Analyse every N-th video frame."),
    detector: Detector = typer.Option(Detector.mtcnn, "--detector", help="Face detector."),
    faces_cropped: bool = typer.Option(False, "--faces-cropped", help="Each image is already a cropped face (FER-2013, CK+)."),
    crop: Crop = typer.Option(Crop.ng2015, "--crop", help="Crop policy for detected faces."),
    model: str = typer.Option("default", "--model", help="Bundled model name or .safetensors path."),
    tta: TTA = typer.Option(TTA.flip, "--tta", help="Test-time augmentation: mirror (flip), mirror+zoom/shift (multi, 10 passes), none."),
    min_face_size: int = typer.Option(40, "--min-face-size", min=12, help="Smallest face searched, pixels."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a plot (.png/.pdf/.svg)."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Also write an annotated copy of a single input (video: .mp4)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Analyse media into a per-frame table of expressions, valence and arousal."""
    from affectkit.io.write import check_table_path, write_table
    from affectkit.pipeline import analyze as run_analyze

    try:
        check_table_path(output)
        df = run_analyze(
            inputs, every=every, detector=detector.value, faces_cropped=faces_cropped, model=model,
            crop=crop.value, tta=tta.value, min_face_size=min_face_size, on_error="collect", progress=not quiet,
        )
        errors = df.attrs.get("errors", [])
        if df.empty:
            for e in errors:
                typer.echo(f"error: {e}", err=True)
            _fail("no input could be analysed", 1)
        write_table(df, output)
        if plot is not None:
            from affectkit.viz import plot_table

            plot_table(df, plot)
        if annotate is not None:
            from affectkit.viz import annotate as write_annotated

            sources = list(dict.fromkeys(df["source"]))
            if len(sources) != 1:
                _fail(f"{annotate}: --annotate needs exactly one input, got {len(sources)}")
            write_annotated(df, sources[0], annotate)
    except AffectkitError as exc:
        _fail(str(exc))
    if not quiet:
        n_frames = df[["source", "frame"]].drop_duplicates().shape[0]
        with_face = df.loc[df["face"].notna(), ["source", "frame"]].drop_duplicates().shape[0]
        typer.echo(f"{len(df)} rows, {n_frames} frames, faces found in {with_face}: {output}")
        for extra in (plot, annotate):
            if extra is not None:
                typer.echo(f"wrote {extra}")
    if errors:
        typer.echo(f"{len(errors)} input(s) failed:", err=True)
        for e in errors:
            typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)


@app.command()
def train(
    fer: Path = typer.Option(..., "--fer", help="FER-2013 image-folder root or fer2013.csv."),
    va_csv: Path = typer.Option(..., "--va-csv", help="AffectNet-style CSV with valence/arousal (DiffusionFER's dataset_sheet.csv)."),
    out: Path = typer.Option(..., "--out", help="Run folder (checkpoints, logs, exported model)."),
    backbone: str = typer.Option("mobilenet_v2", "--backbone"),
    epochs: int = typer.Option(20, "--epochs", min=1),
    network_size: int = typer.Option(80, "--network-size", min=32),
    batch_size: int = typer.Option(128, "--batch-size", min=2),
    lr: float = typer.Option(1e-3, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    max_steps_per_epoch: Optional[int] = typer.Option(None, "--max-steps-per-epoch", help="Cap for quick runs."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/checkpoints/last.ckpt."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from an exported affectkit model (cascade / second stage)."),
) -> None:
    """Fine-tune an ImageNet backbone on FER-2013 expressions + valence/arousal (the default-model recipe)."""
    from affectkit.training.multitask import MultitaskConfig, train_multitask

    cfg = MultitaskConfig(
        backbone=backbone, epochs=epochs, network_size=network_size, batch_size=batch_size,
        lr=lr, seed=seed, max_steps_per_epoch=max_steps_per_epoch,
        init_from=str(init_from) if init_from else None,
    )
    try:
        path = train_multitask(fer, va_csv, out, cfg, resume=resume)
    except AffectkitError as exc:
        _fail(str(exc))
    typer.echo(f"exported {path} and {path.with_suffix('.json')}")


def main() -> None:
    """Entry point of the ``affectkit`` script."""
    app(prog_name="affectkit")


if __name__ == "__main__":
    sys.exit(main())
