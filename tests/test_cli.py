import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from affectkit.cli import app
from affectkit.table import CORE_COLUMNS

runner = CliRunner()


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json"])
def test_analyze_writes_each_format(media, untrained_model, tmp_path, suffix):
    out = tmp_path / f"t.{suffix}"
    r = runner.invoke(app, ["analyze", str(media / "single_face.mp4"), "-o", str(out), "--every", "12",
                            "--model", str(untrained_model), "-q"])
    assert r.exit_code == 0, r.output
    df = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[suffix](out)
    assert list(df.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS)
    assert len(df) == 6


def test_plot_and_annotate(media, untrained_model, tmp_path):
    import av

    out, png, mp4 = tmp_path / "t.csv", tmp_path / "t.png", tmp_path / "a.mp4"
    r = runner.invoke(app, ["analyze", str(media / "single_face.mp4"), "-o", str(out), "--plot", str(png),
                            "--annotate", str(mp4), "--model", str(untrained_model)])
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 10_000
    with av.open(str(mp4)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 72


def test_missing_input_is_one_line_and_nonzero(tmp_path, untrained_model):
    r = runner.invoke(app, ["analyze", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "t.csv"),
                            "--model", str(untrained_model)])
    assert r.exit_code != 0
    assert "nope.mp4: no such file" in r.output
    assert "Traceback" not in r.output


def test_unsupported_output_format(media, tmp_path, untrained_model):
    r = runner.invoke(app, ["analyze", str(media / "single_face.jpg"), "-o", str(tmp_path / "t.xlsx"),
                            "--model", str(untrained_model)])
    assert r.exit_code == 2 and "t.xlsx" in r.output


def test_batch_with_bad_file_writes_the_rest_and_exits_1(media, tmp_path, untrained_model):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["analyze", str(bad), str(media / "single_face.jpg"), "-o", str(out),
                            "--model", str(untrained_model), "-q"])
    assert r.exit_code == 1
    assert "bad.avi" in r.output
    assert len(pd.read_csv(out)) == 1


def test_existing_output_survives_a_failed_run(media, tmp_path, untrained_model):
    out = tmp_path / "t.csv"
    out.write_text("precious")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"junk")
    r = runner.invoke(app, ["analyze", str(bad), "-o", str(out), "--model", str(untrained_model), "-q"])
    assert r.exit_code == 1
    assert out.read_text() == "precious"


def test_streamed_output_equals_analyze(media, untrained_model, tmp_path):
    from affectkit import analyze
    from affectkit.table import read_table, table_columns

    out = tmp_path / "t.parquet"  # CSV and JSON round trips: tests/test_write.py
    r = runner.invoke(app, ["analyze", str(media / "single_face.mp4"), "-o", str(out), "--every", "6",
                            "--smooth", "0.3", "--impute", "0.5", "--model", str(untrained_model)])
    assert r.exit_code == 0, r.output
    assert "12 rows, 12 frames" in r.output
    df = read_table(out)
    assert list(df.columns) == list(table_columns(smooth=True))
    expected = analyze(media / "single_face.mp4", model=untrained_model, every=6, smooth=0.3, impute=0.5)
    pd.testing.assert_frame_equal(df, expected)


def test_tracking_options(media, untrained_model, tmp_path):
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["analyze", str(media / "multi_face.jpg"), "-o", str(out), "--no-track",
                            "--smooth", "1", "--model", str(untrained_model)])
    assert r.exit_code == 2 and "--no-track" in r.output and not out.exists()
    r = runner.invoke(app, ["analyze", str(media / "multi_face.jpg"), "-o", str(out), "--max-gap", "-1",
                            "--model", str(untrained_model)])
    assert r.exit_code == 2 and "--max-gap" in r.output
    r = runner.invoke(app, ["analyze", str(media / "multi_face.jpg"), "-o", str(out), "--no-track",
                            "--model", str(untrained_model), "-q"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert len(df) == 5 and df["track_id"].isna().all() and not df["imputed"].any()


def test_help_imports_no_numerical_library():
    """``affectkit --help`` stays fast (issue 16: <= 0.3 s): the command line imports no numpy,
    pandas, OpenCV, PyAV, ONNX Runtime or torch until a command runs."""
    import subprocess
    import sys

    code = ("import sys\nsys.argv = ['affectkit', '--help']\nfrom affectkit.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = {'numpy', 'pandas', 'cv2', 'av', 'onnxruntime', 'torch'}\n"
            "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & heavy))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Usage" in r.stdout, r.stderr[-2000:]
    assert "LOADED []" in r.stdout, r.stdout[-500:]


def test_the_script_ends_fast_but_runs_exit_handlers_and_keeps_its_status(tmp_path):
    """``affectkit`` (cli.run) skips the interpreter's teardown after a command, but the exit
    handlers still run, the output is flushed, and the exit status is the command's."""
    import subprocess
    import sys

    code = ("import atexit, sys\natexit.register(lambda: print('handler ran', flush=True))\n"
            "from affectkit.cli import run\nsys.argv = ['affectkit'] + sys.argv[1:]\nrun()\n")
    ok = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "Usage" in ok.stdout and ok.stdout.rstrip().endswith("handler ran")
    bad = subprocess.run([sys.executable, "-c", code, "analyze", str(tmp_path / "none.jpg"), "-o",
                          str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "none.jpg" in bad.stderr and "handler ran" in bad.stdout
    # a command that is not one-shot (serve, batch, live, train) ends normally: threads are joined
    code_t = code.replace("run()", "import threading, time\n"
                          "threading.Thread(target=lambda: (time.sleep(1), print('thread done', flush=True))).start()\n"
                          "run()")
    slow = subprocess.run([sys.executable, "-c", code_t, "train", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert slow.returncode == 0 and "thread done" in slow.stdout
    fast = subprocess.run([sys.executable, "-c", code_t, "analyze", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert fast.returncode == 0 and "thread done" not in fast.stdout  # ended at once, after the handlers
