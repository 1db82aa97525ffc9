"""The ``affectkit`` command line; each command mirrors a Python function.

Errors the user can fix are printed as one line (``error: <file>: <problem>``) with a
non-zero exit, never as a traceback.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from affectkit.errors import AffectkitError, printable, reject_unknown
from affectkit.io.limits import DEFAULT_MAX_PIXELS

MAX_SIDE = 1024
"""Largest face or backbone input side, pixels, that the options accept (a face crop larger
than this only costs memory: FER-2013 faces are 48 px, ImageNet inputs 224)."""

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


def _echo_err(line: str) -> None:
    """One line to stderr, with control characters and undecodable bytes escaped."""
    typer.echo(printable(line), err=True)


def _fail(message: str, code: int = 2) -> None:
    _echo_err(f"error: {message}")
    raise typer.Exit(code)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []  # the signals that arrived, for libraries that swallow our exception


def _raise_interrupted(signum, frame) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextmanager
def _on_interrupt(kept: str):
    """Turn SIGINT/SIGTERM during a command into one line saying what was kept, exit 128+signal."""
    try:
        yield
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        _echo_err(f"interrupted ({signal.Signals(signum).name}): {kept}")
        raise typer.Exit(128 + int(signum)) from None
    except SystemExit:
        # Lightning catches the interrupt inside training, shuts down and calls exit(1).
        if not _received:
            raise
        signum = _received[-1]
        _echo_err(f"interrupted ({signal.Signals(signum).name}): {kept}")
        raise typer.Exit(128 + int(signum)) from None


@app.command()
def analyze(
    inputs: List[Path] = typer.Argument(..., help="Images, folders and videos, in any mix."),
    output: Path = typer.Option(..., "-o", "--output", help="Table to write: .csv, .parquet or .json."),
    every: int = typer.Option(1, "--every", min=1, help="Analyse every N-th video frame."),
    detector: Detector = typer.Option(Detector.mtcnn, "--detector", help="Face detector."),
    faces_cropped: bool = typer.Option(False, "--faces-cropped", help="Each image is already a cropped face (FER-2013, CK+)."),
    crop: Optional[Crop] = typer.Option(None, "--crop", help="Crop policy for detected faces. [default: the model card's, ng2015 for the bundled model]"),
    model: str = typer.Option("default", "--model", help="Bundled model name, .onnx file, or .safetensors path (its .onnx export beside it is used)."),
    tta: TTA = typer.Option(TTA.flip, "--tta", help="Test-time augmentation: mirror (flip), mirror+zoom/shift (multi, 10 passes), none."),
    min_face_size: int = typer.Option(40, "--min-face-size", min=12, help="Smallest face searched, pixels."),
    max_pixels: float = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, max=1e12, help="Refuse images with more pixels than this (width x height); larger than 16 megapixels they are decoded downscaled for detection."),
    track: bool = typer.Option(True, "--track/--no-track", help="Follow each face across frames (track_id column)."),
    max_gap: float = typer.Option(1.0, "--max-gap", min=0, help="Seconds a face may go undetected and keep its track_id."),
    smooth: float = typer.Option(0.0, "--smooth", min=0, help="Add *_smooth columns: per-track causal exponential moving average with this time constant, seconds (0 = off)."),
    impute: float = typer.Option(0.0, "--impute", min=0, help="Fill a track's missing frames in gaps up to this many seconds with a moving average of this width, as imputed rows (0 = off)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a plot: valence/arousal timelines and the expression strip per track (.png/.pdf/.svg)."),
    circumplex: Optional[Path] = typer.Option(None, "--circumplex", help="Also write the valence-arousal circumplex with each track's path (.png/.pdf/.svg)."),
    correlation: Optional[Path] = typer.Option(None, "--correlation", help="Also write the correlation map of the per-frame scores (.png/.pdf/.svg)."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Also write an annotated copy of a single input (video: .mp4)."),
    audio: bool = typer.Option(False, "--audio", help="Add voice_* and fused_* columns from each video's sound (voice emotion, late fusion with the face)."),
    audio_model: Optional[str] = typer.Option(None, "--audio-model", help="Voice model for --audio: default (EmoDB MLP) or an audio .safetensors. [default: default]"),
    detect_every: Optional[int] = typer.Option(None, "--detect-every", min=1, show_default=False, help="Run the face detector on every K-th analysed frame (1 = every frame); in between, each face is re-found from the frame before, and a lost face triggers a detection. [default: every 0.1 s of video]"),
    threads: int = typer.Option(0, "--threads", min=0, help="ONNX Runtime threads for detection and the model (0 = one per core)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Analyse media into a per-frame table of expressions, valence and arousal.

    Every output is checked before work starts; the table, plot and annotated copy
    are written together at the end, and only if all succeed, so a failed or
    interrupted run leaves existing files as they were.
    """
    from affectkit.pipeline import analyze_to_file

    try:
        options = _analysis_options(every=every, detector=detector, faces_cropped=faces_cropped, crop=crop,
                                    model=model, tta=tta, min_face_size=min_face_size, max_pixels=max_pixels,
                                    track=track, max_gap=max_gap, smooth=smooth, impute=impute, audio=audio,
                                    audio_model=audio_model)
        options = options.of(options, detect_every=detect_every, threads=threads)
        with _on_interrupt(f"nothing was written; {output} is as it was"):
            summary = analyze_to_file(inputs, output, options, plot=plot, annotate=annotate, circumplex=circumplex,
                                      correlation=correlation, on_error="collect", progress=not quiet)
    except AffectkitError as exc:
        _fail(str(exc))
    except ValueError as exc:  # an option out of range (e.g. --max-gap inf)
        _fail(str(exc))
    errors = summary["errors"]
    for note in summary.get("notes", []):
        _echo_err(f"note: {note}")
    if not summary["rows"]:
        for e in errors:
            _echo_err(f"error: {e}")
        _fail("no input could be analysed; nothing was written", 1)
    if not quiet:
        typer.echo(printable(f"{summary['rows']} rows, {summary['frames']} frames, faces found in "
                             f"{summary['frames_with_face']}: {output}"))
        for extra in summary["outputs"][1:]:
            typer.echo(printable(f"wrote {extra}"))
    if errors:
        _echo_err(f"{len(errors)} input(s) failed (the rows decoded before any damage are kept):")
        for e in errors:
            _echo_err(f"error: {e}")
        raise typer.Exit(1)


NOT_ANALYSIS_OPTIONS = ("inputs", "output", "plot", "circumplex", "correlation", "annotate", "quiet", "threads")
"""The parameters of ``analyze`` that are not analysis options: its inputs and outputs,
``--quiet``, and ``--threads`` (``batch`` has its own: threads per worker). ``batch``
takes every other option of ``analyze``, as ``analyze`` declares it."""


def _analysis_options(*, every, detector, faces_cropped, crop, model, tta, min_face_size, max_pixels, track,
                      max_gap, smooth, impute, audio, audio_model, **same):
    """The :class:`~affectkit.pipeline.AnalyzeOptions` of ``analyze``'s analysis options
    (exits with one line for a combination they refuse); ``same``: options whose
    command-line value is the field's value as it is."""
    from affectkit.pipeline import AnalyzeOptions

    if (smooth or impute) and not track:
        _fail("--smooth and --impute work per track; drop --no-track")
    if audio_model is not None and not audio:
        _fail("--audio-model chooses the voice model of --audio; add --audio")
    # The options' defaults and checks live in AnalyzeOptions (tests/test_options.py
    # fails if analyze's defaults drift from it).
    return AnalyzeOptions(
        every=every, detector=detector.value, faces_cropped=faces_cropped, model=model,
        crop=crop.value if crop else None, tta=tta.value, min_face_size=min_face_size, track=track,
        max_gap=max_gap, smooth=smooth, impute=impute, audio=(audio_model or "default") if audio else None,
        max_pixels=max_pixels, **same,
    )


def _with_analysis_options(command):
    """Give ``command`` (which takes ``**analysis``) every option of ``analyze`` but
    :data:`NOT_ANALYSIS_OPTIONS`, as ``analyze`` declares them (names, defaults, help),
    so an analysis option is declared once and ``batch`` has each new one."""
    import inspect

    shared = [p for name, p in inspect.signature(analyze, eval_str=True).parameters.items()
              if name not in NOT_ANALYSIS_OPTIONS]
    own = inspect.signature(command, eval_str=True)
    params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    command.__signature__ = own.replace(parameters=params + shared)
    return command


class Engine(str, Enum):
    auto = "auto"
    local = "local"
    ray = "ray"


@app.command()
@_with_analysis_options
def batch(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Images, folders and videos, in any mix (not with --merge)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder: one Parquet table per source in tables/, and manifest.json."),
    merge: Optional[Path] = typer.Option(None, "--merge", help="Instead of analysing, join the tables of this batch folder into -o."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="With --merge: the joined table (.parquet, .csv or .json)."),
    engine: Engine = typer.Option(Engine.auto, "--engine", help="ray (one task per source; pip install 'affectkit\\[scale]'), local (serial, in this process) or auto (ray if installed)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join: auto or ray://HOST:PORT. [default: start Ray on this machine]"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Most sources analysed at once. [default: all CPUs / --threads]"),
    threads: int = typer.Option(1, "--threads", min=1, help="Threads per worker (torch, OpenCV, OpenMP) and CPUs reserved per task."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run again the sources that failed before."),
    max_retries: int = typer.Option(3, "--max-retries", min=0, help="Ray re-runs of a task whose worker process died."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    **analysis,
) -> None:
    """Analyse many sources into one table each, resumably; serially or on Ray (mirrors affectkit.batch).

    Re-running the same command skips the sources done with the same options and
    model, runs new ones, and retries failed ones with --retry-failed; changing an
    option redoes every source. Each table is written atomically and only then marked
    done in manifest.json, so a batch killed at any point is finished by running it
    again. --merge DIR -o all.parquet joins the tables (a source column names each file).
    """
    from affectkit.scale.run import batch as run_batch, merge as run_merge

    if merge is not None:
        if inputs or out is not None:
            _fail("--merge DIR -o FILE takes no inputs and no --out")
        if output is None:
            _fail("--merge needs -o FILE (.parquet, .csv or .json)")
        try:
            result = run_merge(merge, output)
        except (AffectkitError, ValueError) as exc:
            _fail(str(exc))
        if not quiet:
            typer.echo(printable(f"{result['rows']} rows from {result['sources']} source(s): {output}"))
        return
    if not inputs or out is None:
        _fail("batch needs INPUTS... --out DIR (or --merge DIR -o FILE)")
    if output is not None:
        _fail("-o is for --merge; the tables of a batch go to --out DIR")
    try:
        options = _analysis_options(**analysis)
        with _on_interrupt(f"the sources marked done in {out}/manifest.json are kept; re-run the same command to resume"):
            summary = run_batch(inputs, out, options, engine=engine.value, address=address, workers=workers,
                                threads=threads, retry_failed=retry_failed, max_retries=max_retries,
                                progress=not quiet)
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        typer.echo(printable(f"{summary['done']} done, {summary['skipped']} skipped (done before), "
                             f"{summary['failed']} failed; {summary['rows']} rows, {summary['frames']} frames in "
                             f"{summary['seconds']:.1f} s ({summary['engine']}): {summary['manifest']}"))
    if summary["errors"]:
        _echo_err(f"{len(summary['errors'])} source(s) failed (--retry-failed runs them again):")
        for e in summary["errors"]:
            _echo_err(f"error: {e}")
        raise typer.Exit(1)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; the default is this machine only (0.0.0.0 opens it to the network)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port."),
    max_upload_mb: float = typer.Option(500, "--max-upload-mb", min=0.001, help="Largest upload, MB; larger ones are refused (413) before they are stored."),
    max_concurrent: int = typer.Option(1, "--max-concurrent", min=1, max=64, help="Analyses that run at once."),
    queue: int = typer.Option(4, "--queue", min=0, max=1000, help="Analyses that may wait; one more is refused (503)."),
) -> None:
    """Serve the upload page, the live camera page and the HTTP API (OpenAPI at /docs); needs the web extra."""
    from affectkit.serve import missing_web_extra

    hint = missing_web_extra()
    if hint:
        _fail(hint)
    import uvicorn

    from affectkit.serve import create_app

    typer.echo(f"affectkit serve: http://{host}:{port}/  (live camera: /live, API: /docs)")
    uvicorn.run(create_app(max_upload_mb, max_concurrent, queue), host=host, port=port, log_level="warning")


@app.command()
def explain(
    image: Path = typer.Argument(..., help="An image with one or more faces, or a video (each of its four longest tracks at its frame of clearest expression)."),
    output: Path = typer.Option(..., "-o", "--output", help="Picture to write: .png, .pdf or .svg."),
    model: str = typer.Option("default", "--model", help="Bundled model name or .safetensors path."),
    detector: Detector = typer.Option(Detector.mtcnn, "--detector", help="Face detector."),
    expression: Optional[str] = typer.Option(None, "--expression", help="Explain this expression for every face. [default: each face's predicted one]"),
    faces_cropped: bool = typer.Option(False, "--faces-cropped", help="The image is already a cropped face."),
) -> None:
    """Grad-CAM heat maps (Selvaraju et al. 2017): where the model looked in each face (needs torch)."""
    from affectkit.io.write import PLOT_SUFFIXES, check_output_path

    try:
        check_output_path(output, PLOT_SUFFIXES, "picture")
        from affectkit.explain import explain_image, explain_video, plot_heatmaps
        from affectkit.io.media import media_kind

        if media_kind(image) == "video":
            if expression is not None or faces_cropped:
                _fail("--expression and --faces-cropped are for images; a video's faces are explained as predicted")
            from affectkit.pipeline import analyze as analyze_media

            table = analyze_media(image, detector=detector.value, model=model)
            heats = explain_video(image, table, model, detector.value)
        else:
            heats = explain_image(image, model, detector.value, expression, faces_cropped)
        if not heats:
            _fail(f"{image}: no face found; nothing was written", 1)
        plot_heatmaps(heats, output, title=printable(Path(image).name))
    except ImportError as exc:
        _fail(f"affectkit explain needs torch (the train extra): {exc}")
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(printable(f"{len(heats)} face(s): {output}"))


class Strategy(str, Enum):
    features = "features"
    full = "full"
    staged = "staged"
    frozen = "frozen"


def _parse_seeds(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        _fail(f"--seeds takes comma-separated integers, got {text!r}")


def _parse_pretrain(items: list[str], epochs: Optional[int], steps: Optional[int]) -> list[dict]:
    options = {k: v for k, v in {"epochs": epochs, "max_steps_per_epoch": steps}.items() if v}
    stages = []
    for item in items:
        spec, _, split = item.rpartition("@")
        if not spec:
            _fail(f"--pretrain takes KIND:PATH@SPLIT (e.g. fer2013:data/fer2013@train), got {item!r}")
        stages.append({"data": spec, "train_split": split, "options": dict(options)})
    return stages


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        d = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        _fail(f"{path}: cannot read config ({exc.strerror})")
    except yaml.YAMLError as exc:
        _fail(f"{path}: not valid YAML ({str(exc).splitlines()[0]})")
    if not isinstance(d, dict):
        _fail(f"{path}: a config file holds a mapping of option: value")
    return d


train_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Train and evaluate a transfer-learning experiment: faces, temporal or voice.")
app.add_typer(train_app, name="train")

# Options every modality's experiment shares: declared once, used by the three subcommands.
_OUT = typer.Option(..., "--out", help="Output folder (checkpoints, models, report).")
_CONFIG = typer.Option(None, "--config", help="YAML file of options; options given here override it.")
_TEST_DATA = typer.Option(None, "--test-data", help="Another dataset KIND:PATH to test on (cross-dataset).")
_SEEDS = typer.Option(None, "--seeds", help="Comma-separated seeds; the report gives mean ± std and their ensemble. [default: 0]")
_QUIET = typer.Option(False, "--quiet", "-q")
_TRAIN_SPLIT = typer.Option(None, "--train-split", help="Split(s) to train on, joined with + (FER32: train+validation). [default: train]")
_VAL_SPLIT = typer.Option(None, "--val-split", help="Split to pick the best epoch on; 'none' for none. [default: validation]")
_TEST_SPLIT = typer.Option(None, "--test-split", help="Split to report on. [default: test]")


def _command_line() -> str:
    return "affectkit train " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""


def _merge(config: Optional[Path], given: dict, modality: str) -> dict:
    """The YAML config overridden by the options given; the data's modality checked against the subcommand."""
    d = _read_yaml(config) if config else {}
    d.update({k: v for k, v in given.items() if v is not None})
    if not d.get("data"):
        _fail("--data KIND:PATH is required (or a --config that sets data)")
    from affectkit.data.registry import dataset_kind

    try:
        kind, entry, _ = dataset_kind(d["data"])
    except AffectkitError as exc:
        _fail(str(exc))
    if entry.modality != modality:
        # The registry says what the data are; the subcommand must match it.
        sub = {"face": "faces", "sequence": "temporal", "voice": "voice"}[entry.modality]
        _fail(f"{d['data']}: {kind} is {entry.modality} data; train it with 'affectkit train {sub}'")
    return d


@train_app.command("faces")
def train_faces(
    out: Path = _OUT,
    config: Optional[Path] = _CONFIG,
    data: Optional[str] = typer.Option(None, "--data", help="Face dataset KIND:PATH (fer2013, ferplus, affectnet_csv, rafdb, ckplus, folder, csv, afew_va)."),
    strategy: Optional[Strategy] = typer.Option(None, "--strategy", help="features (frozen backbone + classical head), full, staged (head first, then all layers) or frozen fine-tuning. [default: full]"),
    task: Optional[str] = typer.Option(None, "--task", help="classes, va or multitask. [default: classes]"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="split, kfold:K (by subject) or loso. [default: split]"),
    train_split: Optional[str] = _TRAIN_SPLIT,
    val_split: Optional[str] = _VAL_SPLIT,
    test_split: Optional[str] = _TEST_SPLIT,
    test_data: Optional[str] = _TEST_DATA,
    seeds: Optional[str] = _SEEDS,
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Backbone registry name. [default: mobilenet_v2]"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local ImageNet weights file for the backbone."),
    pretrained: Optional[bool] = typer.Option(None, "--pretrained/--random-init", help="Start from ImageNet weights, or from random ones (a control). [default: pretrained]"),
    head: Optional[str] = typer.Option(None, "--head", help="features strategy: linear, logistic, svm, rf or mlp. [default: logistic]"),
    tap: Optional[str] = typer.Option(None, "--tap", help="features strategy: penultimate, logits, fc6, fc7, pyramid or a module path. [default: penultimate]"),
    input_size: Optional[int] = typer.Option(None, "--input-size", max=MAX_SIDE, help="features strategy: backbone input side, pixels."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adamw (cosine), sgd (Ng et al.: momentum 0.9, /10 every --lr-step-epochs) or adam (Jin et al.). [default: adamw]"),
    lr: Optional[float] = typer.Option(None, "--lr"),
    lr_step_epochs: Optional[int] = typer.Option(None, "--lr-step-epochs"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay"),
    head_epochs: Optional[int] = typer.Option(None, "--head-epochs", help="staged: epochs with the backbone frozen."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=2),
    network_size: Optional[int] = typer.Option(None, "--network-size", min=32),
    face_size: Optional[int] = typer.Option(None, "--face-size", min=16, max=MAX_SIDE, help="Side, pixels, faces are loaded at. [default: 48]"),
    early_stopping: Optional[int] = typer.Option(None, "--early-stopping", help="Patience in epochs on the validation score."),
    max_train: Optional[int] = typer.Option(None, "--max-train", help="Train on a seeded random subset of this many faces."),
    dedup: bool = typer.Option(False, "--dedup", help="FER-2013: drop test faces duplicated from train."),
    pretrain: List[str] = typer.Option([], "--pretrain", help="Cascade stage KIND:PATH@SPLIT trained first (repeatable, in order)."),
    pretrain_epochs: Optional[int] = typer.Option(None, "--pretrain-epochs"),
    pretrain_steps: Optional[int] = typer.Option(None, "--pretrain-steps", help="Cap on steps per epoch of the --pretrain stages."),
    tta: Optional[TTA] = typer.Option(None, "--tta", help="Test-time augmentation for the report. [default: flip]"),
    max_steps_per_epoch: Optional[int] = typer.Option(None, "--max-steps-per-epoch", help="Cap for quick runs."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from an exported affectkit model (cascade / second stage)."),
    teachers: List[str] = typer.Option([], "--teacher", help="Distil: an exported face model whose (ensemble-averaged) expression distribution is every training face's soft target (repeatable)."),
    soft_weight: Optional[float] = typer.Option(None, "--soft-weight", min=0, max=1, help="Share of the soft target (teachers or FER+ votes) against the face's label. [default: 1]"),
    devices: Optional[str] = typer.Option(None, "--devices", help="Lightning devices: 1, a GPU count (DDP) or auto. [default: 1]"),
    quiet: bool = _QUIET,
) -> None:
    """Faces: fine-tune or probe an ImageNet CNN (mirrors affectkit.training.experiment.run_experiment).

    The default model's recipe is such an experiment: configs/default_stage1.yaml, then
    configs/default_stage2.yaml, default_stage3.yaml, default_stage4.yaml and default_stage6.yaml,
    chained by init_from.
    """
    with _on_interrupt(f"checkpoints so far are in {out}; re-run the same command to resume"):
        _train_faces(**locals())


def _train_faces(*, out, config, seeds, strategy, weights, tta, init_from, teachers, pretrain, pretrain_epochs,
                 pretrain_steps, devices, val_split, dedup, quiet, **options) -> None:
    from affectkit.training.experiment import ExperimentConfig, run_experiment

    given = {
        **options,
        "strategy": strategy.value if strategy else None,
        "seeds": _parse_seeds(seeds) if seeds else None,
        "weights": str(weights) if weights else None,
        "tta": tta.value if tta else None,
        "init_from": str(init_from) if init_from else None,
        "teachers": list(teachers) or None,
        "pretrain": _parse_pretrain(pretrain, pretrain_epochs, pretrain_steps) if pretrain else None,
        "devices": (int(devices) if devices.isdigit() else devices) if devices else None,
    }
    d = _merge(config, given, "face")
    if val_split is not None:
        d["val_split"] = None if val_split.lower() in ("none", "") else val_split
    if dedup:
        d["dedup"] = True
    d["out"] = str(out)
    try:
        cfg = ExperimentConfig.from_dict(d)
    except (TypeError, ValueError) as exc:
        _fail(f"{config or 'options'}: {exc}")
    try:
        report = run_experiment(cfg, progress=not quiet, command=_command_line())
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        _print_headline(report["pooled"], out)


@train_app.command("temporal")
def train_temporal(
    out: Path = _OUT,
    config: Optional[Path] = _CONFIG,
    model: Optional[str] = typer.Option(None, "--model", help="mean, selection, lstm, gru, transformer_lstm or c3d. [default: lstm]"),
    data: Optional[str] = typer.Option(None, "--data", help="Sequence dataset KIND:PATH (afew, afew_va_clips, send, seqcsv)."),
    task: Optional[str] = typer.Option(None, "--task", help="classes or va. [default: classes]"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="split, kfold:K (by subject) or loso. [default: split]"),
    train_split: Optional[str] = _TRAIN_SPLIT,
    val_split: Optional[str] = _VAL_SPLIT,
    test_split: Optional[str] = _TEST_SPLIT,
    test_data: Optional[str] = _TEST_DATA,
    seeds: Optional[str] = _SEEDS,
    embedding: Optional[str] = typer.Option(None, "--embedding", help="Per-frame embedding: emotion[:MODEL], backbone:NAME[:TAP], landmarks, mouth, precomputed, crops (c3d). [default: emotion]"),
    rate: Optional[float] = typer.Option(None, "--rate", help="Frames sampled per second of video. [default: 2]"),
    count: Optional[int] = typer.Option(None, "--frames", min=1, help="Frames sampled per clip instead of a rate (c3d: 16)."),
    hidden: Optional[int] = typer.Option(None, "--hidden", min=4, help="Recurrent / Transformer width. [default: 128]"),
    detector: Optional[Detector] = typer.Option(None, "--detector", help="Face detector for videos. [default: mtcnn]"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=2),
    lr: Optional[float] = typer.Option(None, "--lr"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay"),
    face_size: Optional[int] = typer.Option(None, "--face-size", min=16, max=MAX_SIDE, help="Side, pixels, of the sampled face crops. [default: 48]"),
    max_steps_per_epoch: Optional[int] = typer.Option(None, "--max-steps-per-epoch", help="Cap for quick runs."),
    quiet: bool = _QUIET,
) -> None:
    """Temporal: a clip model over per-frame embeddings (mirrors affectkit.temporal.experiment.run_from_options)."""
    with _on_interrupt(f"checkpoints so far are in {out}; re-run the same command to resume"):
        _train_temporal(**locals())


def _train_temporal(*, out, config, seeds, detector, val_split, quiet, **options) -> None:
    from affectkit.temporal.experiment import run_from_options

    given = {**options, "seeds": _parse_seeds(seeds) if seeds else None,
             "detector": detector.value if detector else None, "val_split": val_split}
    d = _merge(config, given, "sequence")
    if isinstance(d.get("val_split"), str) and d["val_split"].lower() in ("none", ""):
        d["val_split"] = None
    d["out"] = str(out)
    try:
        report = run_from_options(d, progress=not quiet, command=_command_line())
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        _print_headline(report["pooled"], out)
        for m in report.get("models", []):
            typer.echo(f"exported {m}")


VOICE_OPTIONS = ("data", "model", "features", "speaker_norm", "protocol", "test_data", "seeds")
"""The keys a voice experiment takes (``train voice`` options and its YAML config)."""


@train_app.command("voice")
def train_voice(
    out: Path = _OUT,
    config: Optional[Path] = _CONFIG,
    data: Optional[str] = typer.Option(None, "--data", help="Voice corpus KIND:PATH (emodb, ravdess, cremad, iemocap)."),
    model: Optional[str] = typer.Option(None, "--model", help="mlp, transfer-mlp (gender pre-training), rf or svm. \\[default: mlp]"),
    features: Optional[str] = typer.Option(None, "--features", help="librosa, egemaps or compare (the last two need affectkit\\[opensmile], non-commercial). \\[default: librosa]"),
    speaker_norm: Optional[bool] = typer.Option(None, "--speaker-norm/--no-speaker-norm", help="z-score features per speaker. [default: on]"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="loso, kfold:K (by speaker) or split (train on --data, test on --test-data). [default: loso]"),
    test_data: Optional[str] = typer.Option(None, "--test-data", help="The test corpus KIND:PATH of --protocol split."),
    seeds: Optional[str] = _SEEDS,
    quiet: bool = _QUIET,
) -> None:
    """Voice: an MLP or forest on speech features, speaker-independent (mirrors affectkit.audio.experiment.run_audio_experiment)."""
    with _on_interrupt(f"nothing was exported to {out}"):
        _train_voice(**locals())


def _train_voice(*, out, config, data, model, features, speaker_norm, protocol, test_data, seeds, quiet) -> None:
    from affectkit.audio.experiment import run_audio_experiment
    from affectkit.audio.training import export_audio_model
    from affectkit.data.registry import load_dataset

    d = _merge(config, {"data": data, "model": model, "features": features, "speaker_norm": speaker_norm,
                        "protocol": protocol, "test_data": test_data,
                        "seeds": _parse_seeds(seeds) if seeds else None}, "voice")
    try:
        reject_unknown(d, VOICE_OPTIONS, what="voice option")
    except AffectkitError as exc:
        _fail(f"{config or 'options'}: {exc}")
    model, features = d.get("model", "mlp"), d.get("features", "librosa")
    protocol, seeds, norm = d.get("protocol", "loso"), d.get("seeds", [0]), d.get("speaker_norm", True)
    try:
        audio = load_dataset(d["data"], modality="voice")
        test = load_dataset(d["test_data"], modality="voice") if d.get("test_data") else None
        report = run_audio_experiment(audio, features, model, protocol, seeds, norm, out, command=_command_line(),
                                      title=f"{model} on {features} features, {d['data']} ({protocol})", test=test)
        exported = export_audio_model(audio, out / "model.safetensors", features=features, model=model,
                                      speaker_norm=norm, seed=seeds[0], command=_command_line()) if "mlp" in model else None
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        _print_headline(report["pooled"], out)
        if exported:
            typer.echo(f"exported {exported} (trained on all of {d['data']}; use it with analyze --audio)")


def _print_headline(rep: dict, out: Path) -> None:
    parts = [f"{k} {rep[k]:.4f}" for k in ("accuracy", "uar", "macro_f1") if isinstance(rep.get(k), float)]
    parts += [f"{d} CCC {rep[d]['ccc']:.4f}" for d in ("valence", "arousal") if isinstance(rep.get(d), dict)]
    typer.echo(", ".join(parts) + f"; report in {out}/report.md")


@app.command()
def evaluate(
    model: List[str] = typer.Option(["default"], "--model", help="Bundled name or .safetensors (repeat for seeds: mean ± std and ensemble)."),
    data: str = typer.Option(..., "--data", help="Dataset KIND:PATH."),
    split: str = typer.Option("test", "--split", help="Split(s), joined with +."),
    output: Path = typer.Option(..., "-o", "--output", help="Report folder (report.json, report.md, confusion.png)."),
    tta: TTA = typer.Option(TTA.flip, "--tta"),
    face_size: Optional[int] = typer.Option(None, "--face-size", min=16, max=MAX_SIDE, help="Side, pixels, faces are loaded at. [default: the first model's card]"),
    dedup: bool = typer.Option(False, "--dedup", help="FER-2013: drop faces duplicated from earlier splits."),
    target_distribution: Optional[str] = typer.Option(None, "--target-distribution", help="7 comma-separated class shares (anger..neutral) for the weighted accuracy (Vielzeuf et al. 2018)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Evaluate models on a labelled dataset (mirrors affectkit.evaluation.evaluate.evaluate_models)."""
    with _on_interrupt(f"no report was written to {output}"):
        _evaluate_impl(**locals())


def _evaluate_impl(*,
    model, data, split, output, tta, face_size, dedup, target_distribution, quiet,
) -> None:
    from affectkit.evaluation.evaluate import evaluate_models
    from affectkit.evaluation.report import write_report
    from affectkit.training.experiment import load_splits

    from affectkit.temporal.trainer import is_temporal_model

    if any(is_temporal_model(m) for m in model):
        _evaluate_temporal(model, data, split, output, quiet)
        return
    try:
        if face_size is None:
            from affectkit.models.card import read_card
            from affectkit.models.recognizer import BUNDLED, bundled_path

            first = bundled_path(model[0]) if model[0] in BUNDLED else model[0]
            face_size = int(read_card(first, kind="face")["input"]["face_size"])
        faces = load_splits(data, split, size=face_size, dedup=dedup)
        dist = [float(t) for t in target_distribution.split(",")] if target_distribution else None
        report = evaluate_models(model, faces, tta=tta.value, target_distribution=dist)
        report["command"] = "affectkit evaluate " + " ".join(sys.argv[2:])
        write_report(report, output, title=f"{', '.join(model)} on {data} ({split})")
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        _print_headline(report["pooled"], output)


def _evaluate_temporal(models: list[str], data: str, split: str, output: Path, quiet: bool) -> None:
    from affectkit.evaluation.report import write_report
    from affectkit.models.card import read_card
    from affectkit.data.registry import load_dataset
    from affectkit.temporal.evaluate import evaluate_temporal_models
    from affectkit.temporal.trainer import is_temporal_model

    if not all(is_temporal_model(m) for m in models):
        _fail("--model mixes temporal and per-frame models; evaluate them separately")
    try:
        sampling = read_card(models[0]).get("sampling", {})
        seqs = load_dataset(data, split, modality="sequence", **{k: sampling.get(k) for k in ("rate", "count", "size", "crop")
                                              if sampling.get(k) is not None})
        report = evaluate_temporal_models(models, seqs, progress=not quiet)
        report["command"] = "affectkit evaluate " + " ".join(sys.argv[2:])
        write_report(report, output, class_names=read_card(models[0])["classes"] if report["task"] == "classes" else None,
                     title=f"{', '.join(models)} on {data} ({split})")
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        _print_headline(report["pooled"], output)


@app.command()
def clip(
    inputs: List[Path] = typer.Argument(..., help="Videos (or folders of frame images) to run the temporal model on."),
    model: Path = typer.Option(..., "--model", help="A temporal model (.safetensors) from affectkit train temporal."),
    output: Path = typer.Option(..., "-o", "--output", help="Clip table, one row per video: .csv, .parquet or .json."),
    steps: Optional[Path] = typer.Option(None, "--steps", help="Also write the per-step table (time_s, face, predictions)."),
    detector: Optional[Detector] = typer.Option(None, "--detector", help="Face detector [default: the model card's]."),
    crop: Optional[Crop] = typer.Option(None, "--crop", help="Crop policy [default: the model card's]."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Clip-level and per-step emotion from a trained temporal model (mirrors affectkit.temporal.predict.analyze_clips)."""
    with _on_interrupt(f"nothing was written; {output} is as it was"):
        _clip_impl(**locals())


def _clip_impl(*,
    inputs, model, output, steps, detector, crop, quiet,
) -> None:
    from affectkit.io.write import check_table_path, write_table
    from affectkit.temporal.predict import analyze_clips

    try:
        for path in (output, steps):
            if path is not None:
                check_table_path(path)
        clips, step_table, errors = analyze_clips(inputs, model, detector=detector.value if detector else None,
                                                  crop=crop.value if crop else None, on_error="skip")
        if not clips.empty:
            write_table(clips, output)
            if steps is not None:
                write_table(step_table, steps)
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet and not clips.empty:
        typer.echo(f"{len(clips)} clip(s), {len(step_table)} steps: {output}" + (f", {steps}" if steps else ""))
    for e in errors:
        typer.echo(f"error: {e}", err=True)
    if errors:
        raise typer.Exit(1)


@app.command()
def features(
    backbone: str = typer.Option(..., "--backbone", help="Backbone registry name."),
    data: str = typer.Option(..., "--data", help="Dataset KIND:PATH."),
    output: Path = typer.Option(..., "-o", "--output", help="Embeddings file: .parquet or .npz."),
    tap: List[str] = typer.Option(["penultimate"], "--tap", help="penultimate, logits, fc6, fc7, pyramid or a module path (repeatable)."),
    split: str = typer.Option("all", "--split", help="Split(s), joined with +."),
    input_size: Optional[int] = typer.Option(None, "--input-size", max=MAX_SIDE, help="Backbone input side, pixels [default: the weights' own]."),
    face_size: int = typer.Option(48, "--face-size", min=16, max=MAX_SIDE),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local ImageNet weights file."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Write frozen-backbone embeddings of a dataset (mirrors affectkit.training.features.extract_features)."""
    with _on_interrupt(f"nothing was written; {output} is as it was"):
        _features_impl(**locals())


def _features_impl(*,
    backbone, data, output, tap, split, input_size, face_size, weights, quiet,
) -> None:
    from affectkit.training.experiment import load_splits
    from affectkit.training.features import extract_features, save_features

    from affectkit.io.write import check_output_path

    try:
        check_output_path(output, (".parquet", ".npz"), "features file")
        faces = load_splits(data, split, size=face_size)
        feats = extract_features(faces, backbone, tap, input_size=input_size, weights=weights, progress=not quiet)
        save_features(output, faces, feats)
    except (AffectkitError, KeyError, ValueError) as exc:
        _fail(str(exc).strip('"'))
    if not quiet:
        typer.echo(f"{len(faces)} faces, " + ", ".join(f"{t} {x.shape[1]}-d" for t, x in feats.items()) + f": {output}")


@app.command()
def export(
    model: str = typer.Argument(..., help="mtcnn, a bundled model name (default), or a face or voice model .safetensors file."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (created if missing)."),
    opset: int = typer.Option(17, "--opset", min=17, max=20, help="ONNX opset."),
    check_images: Optional[List[Path]] = typer.Option(None, "--check-inputs", "--check-images", help="Face crops, photos (mtcnn) or sound files (voice) to check the export on [default: FER-2013 faces, photos, EmoDB in ../shared]."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Export a face or voice model or MTCNN to ONNX with its card, checked against torch (mirrors affectkit.load.export_onnx)."""
    with _on_interrupt(f"nothing was written; {output} is as it was"):
        _export_impl(**locals())


def _export_impl(*, model, output, opset, check_images, quiet) -> None:
    from affectkit.load import export_onnx

    try:
        result = export_onnx(model, output, opset=opset, check_inputs=check_images or None)
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    if not quiet:
        typer.echo(f"{', '.join(str(p) for p in result.files)}: torch and ONNX Runtime agree to "
                   f"{result.worst:.2g} (max abs difference; on {result.check_inputs})")


@app.command()
def live(
    source: str = typer.Argument("0", help="Camera index, device path (/dev/video0), stream URL, or a video file played at its own frame rate."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the table as it goes (.csv, .parquet or .json); finalised atomically, also on Ctrl-C."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Also write the annotated stream (.mp4)."),
    show: bool = typer.Option(False, "--show", help="Show the annotated stream in a window (needs the gui extra)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many analysed frames."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0, help="Stop after this many seconds."),
    detector: Detector = typer.Option(Detector.mtcnn, "--detector", help="Face detector."),
    model: str = typer.Option("default", "--model", help="Bundled model name, .onnx file, or .safetensors path."),
    tta: TTA = typer.Option(TTA.flip, "--tta", help="Test-time augmentation: flip, multi, none."),
    min_face_size: int = typer.Option(40, "--min-face-size", min=12, help="Smallest face searched, pixels."),
    detect_every: Optional[int] = typer.Option(None, "--detect-every", min=1, show_default=False, help="Run the face detector on every K-th analysed frame (1 = every frame); faces are followed in between. [default: every 0.1 s]"),
    threads: int = typer.Option(0, "--threads", min=0, help="ONNX Runtime threads (0 = one per core)."),
    track: bool = typer.Option(True, "--track/--no-track", help="Follow each face across frames (track_id)."),
    max_gap: float = typer.Option(1.0, "--max-gap", min=0, help="Seconds a face may go undetected and keep its track_id."),
    smooth: float = typer.Option(0.0, "--smooth", min=0, help="Add causal *_smooth columns with this time constant, seconds (0 = off)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-second status line or summary."),
) -> None:
    """Analyse a camera, stream or file in real time: frames the analysis cannot keep up with are dropped, never queued.

    Ctrl-C ends the run cleanly: the table holds every analysed frame up to the last one.
    """
    _live_impl(source=source, output=output, annotate=annotate, show=show, max_frames=max_frames, duration=duration,
               detector=detector, model=model, tta=tta, min_face_size=min_face_size, detect_every=detect_every,
               threads=threads, track=track, max_gap=max_gap, smooth=smooth, quiet=quiet)


def _live_impl(*, source, output, annotate, show, max_frames, duration, detector, model, tta, min_face_size,
               detect_every, threads, track, max_gap, smooth, quiet) -> None:
    import time

    from affectkit.io.write import (VIDEO_OUTPUT_SUFFIXES, StagedOutputs, TableWriter, check_output_path,
                                    check_table_path, remove_stale_temps)
    from affectkit.live import AnnotatedStream, Grabber, LiveStats, gui_available, live as run_live, source_kind
    from affectkit.pipeline import AnalyzeOptions
    from affectkit.table import make_table, table_columns

    if smooth and not track:
        _fail("--smooth works per track; drop --no-track")
    if show and not gui_available():
        _fail("--show needs an OpenCV build with a GUI, which is not installed: pip install 'affectkit[gui]'")
    try:
        options = AnalyzeOptions(detector=detector.value, model=model, tta=tta.value, min_face_size=min_face_size,
                                 detect_every=detect_every, threads=threads, track=track, max_gap=max_gap,
                                 smooth=smooth)
        kind = source_kind(source)
        outputs = []
        if output is not None:
            outputs.append(check_table_path(output))
        if annotate is not None:
            outputs.append(check_output_path(annotate, VIDEO_OUTPUT_SUFFIXES, "annotated video"))
        for folder in {p.parent for p in outputs}:
            remove_stale_temps(folder)
    except (AffectkitError, ValueError) as exc:
        _fail(str(exc))
    stats = LiveStats()
    columns = table_columns(smooth=smooth > 0, audio=False)
    stopped = ""
    rate = (Grabber(source).fps if kind == "file" else None) or 30.0
    try:
        with StagedOutputs(outputs) as staged:
            writer = TableWriter(output, staged=staged).__enter__() if output is not None else None
            stream = AnnotatedStream(staged.temp(annotate), rate) if annotate is not None else None
            pending: list[dict] = []
            last_status = time.perf_counter()
            try:
                for r in run_live(source, options, max_frames=max_frames, max_seconds=duration):
                    stats.add(r)
                    pending += r.rows
                    if writer is not None and len(pending) >= 64:
                        writer.write(make_table(pending, columns))
                        pending = []
                    if stream is not None:
                        stream.write(r)
                    if show:
                        _show_frame(r)
                    if not quiet and time.perf_counter() - last_status >= 1.0:
                        last_status = time.perf_counter()
                        typer.echo(printable(stats.summary()), err=True)
            except KeyboardInterrupt as exc:  # Ctrl-C / SIGTERM: end cleanly with what was analysed
                stopped = f"stopped ({getattr(exc, 'args', [''])[0] or 'SIGINT'})"
            if writer is not None and pending:
                writer.write(make_table(pending, columns))
            if stream is not None:
                stream.close()
            if writer is not None:
                if writer.rows:
                    writer.commit()
                writer.__exit__(None, None, None)
            if outputs and (writer is None or writer.rows):
                staged.commit()
    except AffectkitError as exc:
        _fail(str(exc), 1)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        if show:
            import cv2

            cv2.destroyAllWindows()
    if not quiet:
        typer.echo(printable((f"{stopped}: " if stopped else "") + stats.summary()
                             + (f": {output}" if output is not None and stats.analysed else "")))


def _show_frame(r) -> None:
    """Draw one live result in the ``affectkit live`` window."""
    import cv2

    from affectkit.table import make_table
    from affectkit.viz import _draw

    img = _draw(r.frame.image, make_table(r.rows))
    cv2.imshow("affectkit live", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
        raise KeyboardInterrupt("window closed")


def main() -> None:
    """Entry point of the ``affectkit`` script.

    SIGTERM is handled as SIGINT is: the command stops, says in one line what was
    kept, and exits with 128 + the signal number. A command that needs an optional
    extra that is not installed (``train``: torch...) says so in one line.
    """
    from affectkit.errors import missing_extra

    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        app(prog_name="affectkit")
    except ImportError as exc:
        err = missing_extra(exc, f"affectkit {sys.argv[1]}" if len(sys.argv) > 1 else "")
        if err is None:
            raise
        _echo_err(f"error: {err}")
        sys.exit(2)


FAST_EXIT = ("analyze", "explain", "--help")
"""Commands after which the ``affectkit`` script skips the interpreter's teardown: one-shot
commands whose work is all written and closed when they return. Not ``serve``, ``batch``,
``live`` or ``train``: their worker threads and processes are left to end normally (a
``serve`` request's temporary folder is removed by its own thread)."""


def run() -> None:
    """Entry point of the ``affectkit`` script: :func:`main`; after a one-shot command
    (:data:`FAST_EXIT`) the process ends at once.

    :func:`main` ends with ``SystemExit``, for callers in Python; the script then skips
    the interpreter's teardown after those commands (see :func:`_exit_now`).
    """
    try:
        main()
    except SystemExit as exc:  # typer ends every command this way, with its exit status
        if len(sys.argv) < 2 or sys.argv[1] in FAST_EXIT:
            _exit_now(exc.code)
        raise


def _exit_now(code) -> None:
    """End the process once a command is done, without the interpreter's teardown.

    Every output is written and closed by now (atomically, see :mod:`affectkit.io.write`);
    what is left is freeing pandas, pyarrow and ONNX Runtime module by module, a
    noticeable part of a one-image ``analyze`` (``benchmarks/realtime.py``). Exit handlers still run (``atexit``: logging, Ray,
    a caller's own) and the standard streams are flushed first.
    """
    import atexit
    import os

    if isinstance(code, str):  # SystemExit("message"): Python prints it and exits with 1
        _echo_err(code)
        code = 1
    code = 0 if code is None else int(code)
    atexit._run_exitfuncs()  # the handlers Python would run at exit (no public spelling of this)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said there
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
