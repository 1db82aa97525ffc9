"""``affectkit live``: real-time analysis of a source; frames are dropped, never queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectkit.cli import app
from generated import write_face_video

runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_face_video(tmp_path_factory.mktemp("live") / "faces.mp4", n_frames=30, fps=10)


def test_live_file_source_gives_results_in_order(clip):
    from affectkit.live import LiveStats, live

    stats = LiveStats()
    results = []
    for r in live(clip, threads=1):
        stats.add(r)
        results.append(r)
    idx = [r.frame.index for r in results]
    assert idx == sorted(set(idx)) and idx[-1] >= 25  # capture order, up to the end of the file
    assert stats.grabbed == 30 and stats.analysed + stats.dropped == stats.grabbed
    assert all(r.latency_s > 0 for r in results)
    assert sum(any(row.get("face") is not None for row in r.rows) for r in results) >= len(results) // 2
    # played at its own frame rate: 30 frames at 10 fps take about 3 s
    assert 2.5 <= results[-1].frame.time_s + 0.1 <= 3.1


def test_slow_analysis_drops_frames_instead_of_queueing(clip, monkeypatch):
    """An analysis 2.5x slower than the source: most frames are dropped, latency stays bounded."""
    from affectkit.live import live
    from affectkit.pipeline import Analyzer

    real = Analyzer.frame_rows

    def slow(self, frames, source, tracker=None):
        time.sleep(0.25)
        return real(self, frames, source, tracker)

    monkeypatch.setattr(Analyzer, "frame_rows", slow)
    results = list(live(clip, threads=1))
    assert results[-1].dropped >= 12  # ~30 - 3 s / 0.25 s
    assert len(results) + results[-1].dropped == results[-1].grabbed == 30
    # a queue would make the latency grow to ~ (30 - 12) * 0.25 s; dropping keeps it near one step
    assert max(r.latency_s for r in results) < 0.25 + 0.5
    assert np.median([r.latency_s for r in results]) < 0.25 + 0.2


def test_cli_live_writes_the_table_and_the_annotated_stream(clip, tmp_path):
    import av

    table, video = tmp_path / "t.parquet", tmp_path / "a.mp4"
    result = runner.invoke(app, ["live", str(clip), "-o", str(table), "--annotate", str(video), "--threads", "1"])
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(table)
    frames = df["frame"].unique()
    assert len(frames) >= 5 and (np.diff(frames) > 0).all()
    assert f"{len(frames)} frames analysed" in result.output
    with av.open(str(video)) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(frames)
    assert not [p for p in tmp_path.iterdir() if p.name not in ("t.parquet", "a.mp4")]  # no temporaries left


def test_ctrl_c_ends_cleanly_with_the_table_complete(tmp_path):
    long = write_face_video(tmp_path / "long.mp4", n_frames=150, fps=10)  # 15 s
    table = tmp_path / "t.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "affectkit.cli", "live", str(long), "-o", str(table), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and "frames analysed" not in (line := proc.stderr.readline()):
        pass  # the first status line: analysis is running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-1500:]
    assert "stopped" in out and "Traceback" not in err
    df = pd.read_csv(table)
    n = int(out.split(" frames analysed")[0].split()[-1])
    assert df["frame"].nunique() == n >= 3
    assert df["frame"].max() < 140  # ended early, not at the end of the file


def test_show_without_a_gui_and_a_bad_source_are_one_line(tmp_path, clip):
    from affectkit.live import gui_available

    if not gui_available():
        result = runner.invoke(app, ["live", str(clip), "--show"])
        assert result.exit_code == 2 and "affectkit[gui]" in result.output
        assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["live", str(tmp_path / "missing.mp4")])
    assert result.exit_code == 2 and "not a camera index" in result.output
    result = runner.invoke(app, ["live", str(clip), "-o", str(tmp_path / "t.txt")])
    assert result.exit_code == 2 and result.output.startswith("error:")
