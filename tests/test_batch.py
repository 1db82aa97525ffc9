"""``affectkit batch``: resumable, and the same on the local engine and on Ray.

Failure tests on tiny generated videos (no ../shared): the driver SIGKILLed mid-batch
then re-run, a Ray worker dying mid-task, a corrupt input, a changed option, and a
simulated two-node Ray cluster. Haar detection without TTA keeps each source well
under a second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import affectkit
from affectkit import cli
from affectkit.io.write import TEMP_NAME
from affectkit.scale.manifest import MANIFEST, TABLES, comparable
from affectkit.scale.run import TEST_HOOK

from generated import write_face_video

runner = CliRunner()
OPTS = dict(detector="haar", tta="none")
CLI_OPTS = ["--detector", "haar", "--tta", "none"]
N = 4


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Four short face videos of different lengths (so their tables differ)."""
    folder = tmp_path_factory.mktemp("videos")
    for i in range(N):
        write_face_video(folder / f"clip{i}.mp4", n_frames=4 + 2 * i, fps=10)
    return folder


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory) -> Path:
    """An uninterrupted local batch of ``videos``."""
    out = tmp_path_factory.mktemp("reference") / "out"
    summary = affectkit.batch(videos, out, engine="local", **OPTS)
    assert (summary["done"], summary["failed"], summary["skipped"]) == (N, 0, 0)
    return out


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text())


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted((out / TABLES).glob("*.parquet"))}


def temps(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if TEMP_NAME.match(p.name)]


def assert_same_batch(out: Path, ref: Path) -> None:
    """The same manifest (but timings and placement) and identical tables."""
    assert comparable(manifest(out)) == comparable(manifest(ref))
    got, want = tables(out), tables(ref)
    assert list(got) == list(want) and len(want) == N
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True)


def test_reference_batch_has_one_table_per_source_with_analyze_rows(videos, reference):
    m = manifest(reference)
    assert [Path(e["path"]).name for e in m["sources"]] == [f"clip{i}.mp4" for i in range(N)]
    for e in m["sources"]:
        assert e["status"] == "done" and e["error"] is None and e["hash"].startswith("blake2b-256:")
        assert e["size"] == Path(e["path"]).stat().st_size and e["options"]["detector"] == "haar"
        assert e["model_card_hash"] == m["model"]["card_hash"] and e["seconds"] > 0
    first = m["sources"][0]
    want = affectkit.analyze(first["path"], **OPTS)  # the same rows as affectkit analyze
    got = pd.read_parquet(reference / first["table"])
    assert first["rows"] == len(got) == len(want) == first["frames"] == 4
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_driver_sigkill_then_rerun_matches_an_uninterrupted_run(videos, reference, tmp_path):
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("affectkit")
    cmd = [str(exe), "batch", str(videos), "--out", str(out), "--engine", "local", "-q", *CLI_OPTS]
    env = {**os.environ, "OMP_NUM_THREADS": "1", TEST_HOOK: json.dumps({"delay_s": 1.5})}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    try:
        # Kill when one source is marked done and the next one's table is half-written.
        while time.monotonic() < deadline and proc.poll() is None:
            done = [e for e in manifest(out)["sources"] if e["status"] == "done"] if (out / MANIFEST).exists() else []
            if done and temps(out / TABLES):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = manifest(out)
    assert 1 <= sum(e["status"] == "done" for e in before["sources"]) < N
    assert temps(out / TABLES)  # the kill landed mid-write

    rerun = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert temps(out) == []
    assert_same_batch(out, reference)
    kept = {e["path"]: e["finished_at"] for e in before["sources"] if e["status"] == "done"}
    after = {e["path"]: e["finished_at"] for e in manifest(out)["sources"]}
    assert all(after[p] == t for p, t in kept.items())  # done sources were skipped, not redone

    merged = tmp_path / "all.parquet"
    result = runner.invoke(cli.app, ["batch", "--merge", str(out), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(merged)
    assert len(df) == sum(len(t) for t in tables(reference).values())
    assert not df.duplicated(["source", "frame", "face"]).any()
    assert sorted(df["source"].unique()) == sorted(str(videos / f"clip{i}.mp4") for i in range(N))
    assert df.groupby("source").size().tolist() == [4 + 2 * i for i in range(N)]


def test_corrupt_input_is_recorded_and_the_rest_complete(videos, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("clip0.mp4", "clip1.mp4"):
        (inputs / name).write_bytes((videos / name).read_bytes())
    bad = inputs / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    out = tmp_path / "out"
    result = runner.invoke(cli.app, ["batch", str(inputs), "--out", str(out), "--engine", "local", "-q", *CLI_OPTS])
    assert result.exit_code == 1
    expected = affectkit.analyze(bad, on_error="collect", **OPTS).attrs["errors"]  # analyze's one line
    assert len(expected) == 1 and f"error: {expected[0]}" in result.output.splitlines()
    entries = {Path(e["path"]).name: e for e in manifest(out)["sources"]}
    assert entries["broken.mp4"]["status"] == "failed" and entries["broken.mp4"]["error"] == expected[0]
    assert entries["broken.mp4"]["table"] is None and "\n" not in expected[0]
    assert [entries[n]["status"] for n in ("clip0.mp4", "clip1.mp4")] == ["done", "done"]
    assert len(list((out / TABLES).glob("*.parquet"))) == 2

    again = affectkit.batch(inputs, out, engine="local", **OPTS)  # failed stays failed, not retried
    assert (again["done"], again["skipped"], again["failed"]) == (0, 2, 1)
    assert manifest(out)["sources"][0]["finished_at"] == entries["broken.mp4"]["finished_at"]
    retried = affectkit.batch(inputs, out, engine="local", retry_failed=True, **OPTS)
    assert (retried["done"], retried["skipped"], retried["failed"]) == (0, 2, 1) and retried["errors"] == expected
    bad.write_bytes((videos / "clip3.mp4").read_bytes())  # fixed: a changed file is run again
    fixed = affectkit.batch(inputs, out, engine="local", **OPTS)
    assert (fixed["done"], fixed["skipped"], fixed["failed"]) == (1, 2, 0)


def test_changing_an_option_redoes_every_source(videos, reference, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for p in (reference / TABLES).iterdir():  # start from a finished batch
        (out / TABLES).mkdir(exist_ok=True)
        (out / TABLES / p.name).write_bytes(p.read_bytes())
    (out / MANIFEST).write_text((reference / MANIFEST).read_text())
    same = affectkit.batch(videos, out, engine="local", **OPTS)
    assert (same["done"], same["skipped"]) == (0, N)
    changed = affectkit.batch(videos, out, engine="local", every=2, **OPTS)
    assert (changed["done"], changed["skipped"]) == (N, 0)
    m = manifest(out)
    assert m["options"]["every"] == 2 and all(e["options"]["every"] == 2 for e in m["sources"])
    assert [e["frames"] for e in m["sources"]] == [(4 + 2 * i + 1) // 2 for i in range(N)]
    assert affectkit.batch(videos, out, engine="local", every=2, **OPTS)["skipped"] == N


def test_bad_output_and_engine_are_one_line_before_work(videos, tmp_path, monkeypatch):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    result = runner.invoke(cli.app, ["batch", str(videos), "--out", str(a_file), "--engine", "local"])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: {a_file}: is a file; --out takes a folder"]
    missing = tmp_path / "no" / "such"
    result = runner.invoke(cli.app, ["batch", str(videos), "--out", str(missing), "--engine", "local"])
    assert result.exit_code == 2 and "does not exist" in result.output and not missing.parent.exists()
    monkeypatch.setattr("affectkit.scale.engine.ray_available", lambda: False)
    result = runner.invoke(cli.app, ["batch", str(videos), "--out", str(tmp_path / "o"), "--engine", "ray"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "affectkit[scale]" in result.output and not (tmp_path / "o").exists()
    result = runner.invoke(cli.app, ["batch", "--merge", str(tmp_path), "-o", str(tmp_path / "all.parquet")])
    assert result.exit_code == 2 and "no manifest.json" in result.output


# -- Ray -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """A simulated two-node Ray cluster (one CPU each) that this process is connected to."""
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        pytest.skip("Ray is not installed (pip install 'affectkit[scale]'); the Ray engine tests need it")
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                       "object_store_memory": 128 * 2**20})
    c.add_node(num_cpus=1, object_store_memory=128 * 2**20)
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()


def test_ray_gives_the_local_result_when_a_worker_dies_mid_task(videos, reference, cluster, tmp_path, monkeypatch):
    marker = tmp_path / "crashed-once"
    monkeypatch.setenv(TEST_HOOK, json.dumps({"crash_once": {"name": "clip2.mp4", "marker": str(marker)}}))
    out = tmp_path / "out"
    summary = affectkit.batch(videos, out, engine="ray", address=cluster.address, max_retries=2, **OPTS)
    assert marker.exists()  # the worker running clip2 did die (os._exit) on the first attempt
    assert (summary["done"], summary["failed"], summary["engine"]) == (N, 0, "ray")
    assert {e["engine"] for e in manifest(out)["sources"]} == {"ray"}
    assert_same_batch(out, reference)  # the same manifest (minus timings and placement) and tables as --engine local
    assert temps(out) == []


def test_tasks_land_on_both_nodes_of_a_cluster(videos, reference, cluster, tmp_path):
    import ray

    out = tmp_path / "out"
    summary = affectkit.batch(videos, out, engine="ray", address=cluster.address, **OPTS)
    assert summary["done"] == N
    nodes = {e["node"] for e in manifest(out)["sources"]}
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(alive) == 2 and nodes == alive
    assert_same_batch(out, reference)
