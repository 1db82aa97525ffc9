"""The "bad input" promises of ``affectkit analyze``, on media the tests make (no ../shared needed).

Each test is one case of issue #13: a truncated video, outputs validated before any
work, frames too small for a face, images above the pixel limit, hostile file names,
signals, and stale temporary files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from generated import CONTAINERS, truncate, write_gif, write_image, write_video
from typer.testing import CliRunner

from affectkit.cli import app
from affectkit.errors import InputError, printable
from affectkit.io.media import iter_frames, iter_video
from affectkit.io.write import remove_stale_temps

runner = CliRunner()


def _run(args: list[str]):
    result = runner.invoke(app, ["analyze", *args, "-q"])
    assert "Traceback" not in result.output, result.output
    return result


def _errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


# -- truncated videos ---------------------------------------------------------------


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv"])
def test_truncated_video_keeps_rows_and_is_reported(tmp_path, container, untrained_model):
    full = write_video(tmp_path / f"full{CONTAINERS[container][1]}", n_frames=50, container=container)
    cut = truncate(full, tmp_path / f"cut{CONTAINERS[container][1]}", 0.5)
    decoded = []
    with pytest.raises(InputError, match="truncated"):
        for frame in iter_video(cut):
            decoded.append(frame.index)
    assert 5 < len(decoded) < 45 and decoded == list(range(len(decoded)))
    # The whole file is not reported.
    assert len(list(iter_video(full))) == 50

    out = tmp_path / "out.csv"
    result = _run([str(cut), str(full), "-o", str(out), "--model", str(untrained_model), "--faces-cropped"])
    assert result.exit_code == 1
    errors = _errors(result)
    assert len(errors) == 1 and str(cut) in errors[0] and "truncated" in errors[0]
    df = pd.read_csv(out)
    assert (df["source"] == str(cut)).sum() == len(decoded)  # the decoded frames' rows are kept
    assert (df["source"] == str(full)).sum() == 50


def test_index_at_end_truncation_is_a_one_line_failure(tmp_path, untrained_model):
    full = write_video(tmp_path / "full.mp4", container="mp4-index-at-end")
    cut = truncate(full, tmp_path / "cut.mp4", 0.5)
    good = write_image(tmp_path / "ok.png")
    out = tmp_path / "out.csv"
    result = _run([str(cut), str(good), "-o", str(out), "--model", str(untrained_model), "--faces-cropped"])
    assert result.exit_code == 1
    assert len(_errors(result)) == 1 and str(cut) in _errors(result)[0]
    assert list(pd.read_csv(out)["source"]) == [str(good)]


# -- outputs validated before work, committed together -----------------------------------


@pytest.mark.parametrize("extra", [
    ["--plot", "p.xyz"],
    ["--plot", "nodir/p.png"],
    ["--annotate", "a.mp4"],  # with two inputs
    ["--annotate", "a.png"],  # a video cannot be annotated as an image
])
def test_a_bad_extra_output_never_replaces_the_table(tmp_path, extra):
    video = write_video(tmp_path / "v.mp4", n_frames=6)
    image = write_image(tmp_path / "i.png")
    out = tmp_path / "out.csv"
    out.write_text("good table\n")
    extra = [extra[0], str(tmp_path / extra[1])]
    inputs = [str(video), str(image)] if extra[1].endswith("a.mp4") else [str(video)]
    # A missing model would fail the run too: the output error shows the outputs are
    # checked first, before the model is loaded or anything analysed.
    result = _run([*inputs, "-o", str(out), "--model", str(tmp_path / "missing.safetensors"), *extra])
    assert result.exit_code == 2
    assert len(_errors(result)) == 1 and extra[1] in _errors(result)[0]
    assert out.read_text() == "good table\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_output_that_is_a_folder_or_unwritable(tmp_path, untrained_model):
    image = write_image(tmp_path / "i.png")
    (tmp_path / "d.csv").mkdir()
    result = _run([str(image), "-o", str(tmp_path / "d.csv"), "--model", str(untrained_model)])
    assert result.exit_code == 2 and "is a folder" in _errors(result)[0]
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        result = _run([str(image), "-o", str(ro / "t.csv"), "--model", str(untrained_model)])
        assert result.exit_code == 2 and "not writable" in _errors(result)[0]


def test_table_plot_and_annotation_are_written_together(tmp_path, untrained_model):
    video = write_video(tmp_path / "v.mp4", n_frames=8)
    out, plot, ann = tmp_path / "t.parquet", tmp_path / "p.png", tmp_path / "a.mp4"
    result = _run([str(video), "-o", str(out), "--plot", str(plot), "--annotate", str(ann),
                   "--model", str(untrained_model), "--faces-cropped"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 8
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(iter_video(ann))) == 8


def test_circumplex_and_correlation_pictures_from_the_cli(tmp_path, untrained_model):
    video = write_video(tmp_path / "v.mp4", n_frames=8)
    out, circ, corr = tmp_path / "t.csv", tmp_path / "c.svg", tmp_path / "r.png"
    result = _run([str(video), "-o", str(out), "--circumplex", str(circ), "--correlation", str(corr),
                   "--model", str(untrained_model), "--faces-cropped"])
    assert result.exit_code == 0, result.output
    assert "<svg" in circ.read_text() and "valence" in circ.read_text()
    assert corr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A table without a face cannot be drawn: one line naming the picture, and nothing is written.
    blank = write_image(tmp_path / "tiny.png", (8, 8))
    circ.unlink()
    out.write_text("kept")
    result = _run([str(blank), "-o", str(out), "--circumplex", str(circ), "--model", str(untrained_model)])
    assert result.exit_code == 2 and _errors(result) == [f"error: {circ}: nothing to plot: the table has no face; "
                                                         "nothing was written"], result.output
    assert out.read_text() == "kept" and not circ.exists()
    result = _run([str(video), "-o", str(out), "--circumplex", str(tmp_path / "c.txt")])
    assert result.exit_code == 2 and "c.txt" in _errors(result)[0]


def test_annotating_a_truncated_video_keeps_what_was_decoded(tmp_path, untrained_model):
    cut = truncate(write_video(tmp_path / "v.mp4", n_frames=50), tmp_path / "cut.mp4", 0.5)
    out, ann = tmp_path / "t.csv", tmp_path / "a.mp4"
    result = _run([str(cut), "-o", str(out), "--annotate", str(ann), "--model", str(untrained_model),
                   "--faces-cropped"])
    assert result.exit_code == 1 and "truncated" in _errors(result)[0]
    assert len(list(iter_video(ann))) == len(pd.read_csv(out))


# -- frames too small, images too large ---------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (39, 39), (1, 500), (500, 1)])
def test_frames_smaller_than_the_minimum_face_give_no_face_rows(tmp_path, size, untrained_model):
    small = write_image(tmp_path / "small.png", size)
    good = write_image(tmp_path / "good.png", (120, 100))
    out = tmp_path / "out.csv"
    result = _run([str(small), str(good), "-o", str(out), "--model", str(untrained_model)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df["source"]) == [str(small), str(good)] and df["face"].isna().all()
    assert "smaller than the minimum face size" in result.output


def test_a_small_video_gives_one_no_face_row_per_frame(tmp_path, untrained_model):
    video = write_video(tmp_path / "tiny.mp4", n_frames=12, size=(32, 32))
    out = tmp_path / "out.csv"
    result = _run([str(video), "-o", str(out), "--model", str(untrained_model)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert list(df["frame"]) == list(range(12)) and df["face"].isna().all()


def test_image_above_the_pixel_limit_is_a_per_file_error(tmp_path, untrained_model):
    big = write_image(tmp_path / "big.png", (400, 300))
    good = write_image(tmp_path / "good.png")
    out = tmp_path / "out.csv"
    result = _run([str(big), str(good), "-o", str(out), "--max-pixels", "100000",
                   "--model", str(untrained_model), "--faces-cropped"])
    assert result.exit_code == 1
    assert len(_errors(result)) == 1 and "120000" not in _errors(result)[0] and "above the limit" in _errors(result)[0]
    assert list(pd.read_csv(out)["source"]) == [str(good)]


def test_a_large_image_is_decoded_downscaled_with_boxes_in_source_pixels(tmp_path, monkeypatch):
    import affectkit.io.media as media

    path = write_image(tmp_path / "large.jpg", (800, 600), quality=90)
    frame = next(iter_frames(path, work_pixels=120_000))
    assert frame.image.shape[0] * frame.image.shape[1] <= 120_000 * 1.01
    assert frame.scale == pytest.approx(800 / frame.image.shape[1], rel=0.01)
    full = next(iter_frames(path, work_pixels=None))
    assert full.image.shape == (600, 800, 3) and full.scale == 1.0
    # Through the pipeline: a face-cropped box covers the whole source image.
    monkeypatch.setattr(media, "WORK_PIXELS", 120_000)
    from affectkit.pipeline import Analyzer

    analyzer = Analyzer(faces_cropped=True, model="default")
    (row,) = analyzer.run_source(path)
    assert (row["width"], row["height"]) == pytest.approx((800, 600), abs=8)


def test_animated_gif_yields_every_frame(tmp_path):
    gif = write_gif(tmp_path / "anim.gif", n_frames=5, duration_ms=80)
    frames = list(iter_frames(gif))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [round(f.time_s, 3) for f in frames] == [0.0, 0.08, 0.16, 0.24, 0.32]
    assert [f.index for f in iter_frames(gif, every=2)] == [0, 2, 4]


# -- file names, options -------------------------------------------------------------


@pytest.mark.parametrize("name", [b"bad\nname.png", b"x\xffy.png", b"tab\there.png", b"esc\x1b[31m.png"])
def test_hostile_file_names_stay_on_one_printable_line(tmp_path, name, untrained_model):
    path = Path(os.fsdecode(bytes(tmp_path) + b"/" + name))
    write_image(path)
    missing = Path(os.fsdecode(bytes(tmp_path) + b"/missing-" + name))
    out = tmp_path / "out.csv"
    result = _run([str(path), "-o", str(out), "--model", str(untrained_model), "--faces-cropped"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["source"].tolist() == [printable(path)]
    result = _run([str(missing), "-o", str(out), "--model", str(untrained_model)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and printable(missing) in lines[0]


def test_audio_model_without_audio_is_refused(tmp_path):
    result = _run([str(write_image(tmp_path / "i.png")), "-o", str(tmp_path / "o.csv"), "--audio-model", "default"])
    assert result.exit_code == 2 and "--audio" in _errors(result)[0]


# -- signals and leftovers -------------------------------------------------------------


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".out.affectkit-{pid}-0123abcd.csv"
    live = tmp_path / f".out.affectkit-{os.getppid()}-0123abcd.csv"
    other = tmp_path / ".out.something-else.csv"
    for p in (stale, live, other):
        p.write_text("")
    assert remove_stale_temps(tmp_path) == [stale]
    assert live.exists() and other.exists() and not stale.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_with_one_line_and_keeps_the_old_table(tmp_path, sig, untrained_model):
    video = write_video(tmp_path / "long.mp4", n_frames=3000, size=(320, 240))
    out = tmp_path / "out.csv"
    out.write_text("good table\n")
    exe = Path(sys.executable).with_name("affectkit")
    proc = subprocess.Popen([str(exe), "analyze", str(video), "-o", str(out), "--model", str(untrained_model), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # past start-up, inside the analysis: the staged table exists (the analysis of 3000 frames
    # takes several seconds more)
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.affectkit-")] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "the analysis ended before the signal: use a longer video"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines() == [f"interrupted ({signal.Signals(sig).name}): nothing was written; {out} is as it was"]
    assert out.read_text() == "good table\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_sigterm_during_training_says_what_was_kept(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("happiness", "sadness"):
        folder = tmp_path / "faces" / "train" / c
        folder.mkdir(parents=True)
        for i in range(32):
            Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(folder / f"{i}.png")
    exe = Path(sys.executable).with_name("affectkit")
    out = tmp_path / "run"
    proc = subprocess.Popen([str(exe), "train", "faces", "--data", f"folder:{tmp_path / 'faces'}", "--val-split", "none",
                             "--test-split", "train", "--epochs", "1000", "--network-size", "32", "--random-init",
                             "--out", str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    last = out / "seed_0" / "model" / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline:  # stop it once an epoch is kept
        time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == f"interrupted (SIGTERM): checkpoints so far are in {out}; re-run the same command to resume"
    assert last.exists()
