"""How ``affectkit batch`` scales; writes a section of docs/benchmarks.md and docs/batch.json.

    .venv/bin/python benchmarks/batch_scaling.py              # the measurement (20 clips; minutes)
    .venv/bin/python benchmarks/batch_scaling.py --quick      # a tiny run that proves the script works (< 1 min)

Twenty short generated face videos (``tests/generated.write_face_video``: a drawn face
that MTCNN detects, 320 x 240, 10 fps) are analysed four ways:

1. **Workers.** One Ray session with 2 CPUs in this process; its workers are warmed
   up (model loaded) first, then the clips run with ``workers=1`` and ``workers=2``,
   each worker pinned to 1 thread. Target: 2 workers >= 1.7 x as fast.
2. **Batch vs a loop of analyze.** ``affectkit batch --workers 2 --threads 1`` (a fresh
   command, Ray start-up included) against ``affectkit analyze FILE -o ...`` run on each
   file in turn with 2 threads (``OMP_NUM_THREADS=2``): the same total threads.
   Target: the batch >= 0.95 x the loop's speed.
3. **Resume.** The same batch command is SIGKILLed (with its process group: the local
   Ray it started) once half the sources are marked done, then re-run; the re-run's
   time over a full run's. Target <= 55 %. A re-run of a finished batch measures the
   fixed cost (start-up, hashing nothing, skipping everything).
4. **Scaling past this machine**: a paragraph with the per-core throughput measured
   here, projected to a 10-node cluster and 10,000 hours of video.

``--quick`` uses 4 clips of 6 frames, Haar detection and the local engine for the
resume part, and writes to a temporary folder instead of docs/ unless ``--md``/``--json``
are given: it checks the script, not the numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
BEGIN, END = "<!-- batch:begin -->", "<!-- batch:end -->"
EXE = str(Path(sys.executable).with_name("affectkit"))


def make_clips(folder: Path, n: int, frames: int) -> list[Path]:
    from generated import write_face_video

    folder.mkdir(parents=True, exist_ok=True)
    return [write_face_video(folder / f"clip{i:02d}.mp4", n_frames=frames, fps=10) for i in range(n)]


def manifest_done(out: Path) -> int:
    try:
        return sum(e["status"] == "done" for e in json.loads((out / "manifest.json").read_text())["sources"])
    except (OSError, ValueError, KeyError):
        return 0


def workers_scaling(clips: Path, work: Path, opts: dict) -> dict:
    """Warm 2-CPU Ray session; the clips with 1 worker, then 2 (each 1 thread)."""
    import ray

    import affectkit

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             object_store_memory=256 * 2**20)
    try:
        warm = sorted(clips.iterdir())[:2]
        affectkit.batch(warm, work / "warm", engine="ray", workers=2, **opts)  # both workers load the model
        runs = {}
        for w in (1, 2):
            t = time.perf_counter()
            s = affectkit.batch(clips, work / f"w{w}", engine="ray", workers=w, threads=1, **opts)
            runs[w] = {"seconds": time.perf_counter() - t, "frames": s["frames"], "done": s["done"]}
        entries = json.loads((work / "w1" / "manifest.json").read_text())["sources"]
    finally:
        ray.shutdown()
    stages: dict = {}
    for e in entries:
        for k, v in (e.get("timings_s") or {}).items():
            stages[k] = stages.get(k, 0.0) + v
    rows = sum(e["rows"] for e in entries)
    table_bytes = sum((work / "w1" / e["table"]).stat().st_size for e in entries)
    return {"runs": runs, "speedup": runs[1]["seconds"] / runs[2]["seconds"],
            "fps_per_core": runs[1]["frames"] / runs[1]["seconds"], "stages_s": stages,
            "rows": rows, "table_bytes": table_bytes}


def cli_batch(clips: Path, out: Path, args: list[str], kill_at: float | None = None) -> float:
    """Run ``affectkit batch`` in its own session; with ``kill_at``, SIGKILL its process
    group once that fraction of the sources is done. Returns the wall time, seconds."""
    n = len(list(clips.iterdir()))
    t = time.perf_counter()
    proc = subprocess.Popen([EXE, "batch", str(clips), "--out", str(out), "-q", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    if kill_at is None:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"affectkit batch failed: {err.decode()[-500:]}")
        return time.perf_counter() - t
    while proc.poll() is None and manifest_done(out) < kill_at * n:
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    proc.wait()
    return time.perf_counter() - t


def resume(clips: Path, work: Path, args: list[str]) -> dict:
    full = cli_batch(clips, work / "full", args)
    noop = cli_batch(clips, work / "full", args)
    killed = cli_batch(clips, work / "resumed", args, kill_at=0.5)
    done_at_kill = manifest_done(work / "resumed")
    again = cli_batch(clips, work / "resumed", args)
    import pandas as pd

    same = all(pd.read_parquet(p).equals(pd.read_parquet(work / "resumed" / "tables" / p.name))
               for p in (work / "full" / "tables").glob("*.parquet"))
    return {"full_s": full, "noop_rerun_s": noop, "killed_after_s": killed, "done_at_kill": done_at_kill,
            "rerun_s": again, "ratio": again / full, "tables_identical": same}


def analyze_loop(clips: Path, work: Path, threads: int, args: list[str]) -> float:
    (work / "loop").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t = time.perf_counter()
    for clip in sorted(clips.iterdir()):
        subprocess.run([EXE, "analyze", str(clip), "-o", str(work / "loop" / f"{clip.stem}.parquet"), "-q", *args],
                       env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def render(r: dict) -> str:
    s, res, p = r["scaling"], r["resume"], r["projection"]
    ok = lambda good: "meets" if good else "misses"  # noqa: E731
    stages = ", ".join(f"{k} {v / sum(s['stages_s'].values()):.0%}" for k, v in
                       sorted(s["stages_s"].items(), key=lambda kv: -kv[1]))
    return f"""{BEGIN}

## Batch: `affectkit batch` on Ray

Written by `{r['command']}` on {r['date']} ({r['machine']}, {r['cpus']} CPUs, Ray {r['ray']}); {r['config']}.
{"**Quick run: it checks the script, not the numbers.**" if r['quick'] else ""}

| measurement | result | target |
|---|---|---|
| 1 worker, {r['clips']} clips (warm, 1 thread) | {s['runs'][1]['seconds']:.1f} s, {s['fps_per_core']:.1f} frames/s | |
| 2 workers (warm, 1 thread each) | {s['runs'][2]['seconds']:.1f} s: **{s['speedup']:.2f} x** | >= 1.7 x ({ok(s['speedup'] >= 1.7)}) |
| `affectkit batch --workers 2` (fresh command) | {res['full_s']:.1f} s | |
| loop of `affectkit analyze FILE`, 2 threads | {r['loop_s']:.1f} s: batch at **{r['loop_s'] / res['full_s']:.2f} x** the loop's speed | >= 0.95 x ({ok(r['loop_s'] / res['full_s'] >= 0.95)}) |
| killed at {res['done_at_kill']}/{r['clips']} done, then re-run | re-run {res['rerun_s']:.1f} s: **{res['ratio']:.0%}** of a full run; tables identical: {res['tables_identical']} | <= 55 % ({ok(res['ratio'] <= 0.55)}) |
| re-run of a finished batch (fixed cost) | {res['noop_rerun_s']:.1f} s | |

Where one worker's time goes: {stages}. Tables: {s['table_bytes'] / max(s['rows'], 1):.0f} bytes per row (Parquet).

**Scaling past this machine.** One core here analyses {s['fps_per_core']:.1f} frames/s of this
320 x 240 footage ({r['detector']}). Ten nodes of {p['cores_per_node']} cores run {p['workers']} single-thread
workers; at the {s['speedup'] / 2:.0%} per-worker efficiency measured above, that is about
{p['cluster_fps']:,.0f} frames/s. {p['hours']:,} hours of {p['fps']} fps video is {p['frames']:.3g} frames
(with `--every {p['every']}`, {p['analysed']:.3g} analysed): about **{p['days']:.1f} days** of
cluster time (larger frames cost more: detection grows with the pixels). Data
movement: every worker reads its own videos from a shared file system (at
{p['mbit']} Mbit/s that is {p['tb_in']:.1f} TB, read once to hash and once to decode; the
second read usually comes from the page cache) and writes its own Parquet table
({p['tb_out'] * 1000:.1f} GB at the measured bytes per row); only small result dicts go
through Ray to the driver, which rewrites the manifest at most once a second. The
bottleneck is CPU in the workers ({list(sorted(s['stages_s'], key=lambda k: -s['stages_s'][k]))[0]} first), not
the driver or the network; one very long video is one task on one core, so the last
long files set the tail. The command, on the head node of a running Ray cluster
(`ray start --head` there, `ray start --address HEAD:6379` on the others):

    affectkit batch /mnt/videos --out /mnt/results/batch --address auto --every {p['every']} -q
    affectkit batch --merge /mnt/results/batch -o /mnt/results/all.parquet

Re-run the first command after any failure: done sources are skipped.

{END}"""


def projection(s: dict, args) -> dict:
    workers = args.nodes * args.cores_per_node
    cluster_fps = s["fps_per_core"] * workers * min(1.0, s["speedup"] / 2)
    frames = args.hours * 3600 * args.fps
    analysed = frames / args.every
    return {"nodes": args.nodes, "cores_per_node": args.cores_per_node, "workers": workers,
            "cluster_fps": cluster_fps, "hours": args.hours, "fps": args.fps, "every": args.every,
            "frames": frames, "analysed": analysed, "days": analysed / cluster_fps / 86400, "mbit": args.mbit,
            "tb_in": args.hours * 3600 * args.mbit / 8 / 1e6,
            "tb_out": analysed * s["table_bytes"] / max(s["rows"], 1) / 1e12}


def write_section(md: Path, section: str) -> None:
    text = md.read_text() if md.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    md.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 tiny clips, Haar, local resume: checks the script (< 1 min)")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (10 fps)")
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--md", type=Path, help="page to write the section into [default: docs/benchmarks.md]")
    ap.add_argument("--json", type=Path, help="[default: docs/batch.json]")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--cores-per-node", type=int, default=16)
    ap.add_argument("--hours", type=int, default=10_000)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--every", type=int, default=5, help="--every of the projected run")
    ap.add_argument("--mbit", type=float, default=2.0, help="bitrate of the projected videos, Mbit/s")
    args = ap.parse_args()
    if args.quick:
        args.clips, args.frames, args.detector = 4, 6, "haar"
        tmp = Path(tempfile.gettempdir())
        args.md, args.json = args.md or tmp / "batch_quick.md", args.json or tmp / "batch_quick.json"
    md, js = args.md or ROOT / "docs" / "benchmarks.md", args.json or ROOT / "docs" / "batch.json"
    import ray

    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="affectkit-batch-bench-"))
    try:
        clips = work / "clips"
        make_clips(clips, args.clips, args.frames)
        opts = {"detector": args.detector}
        cli_opts = ["--detector", args.detector]
        scaling = workers_scaling(clips, work, opts)
        engine = ["--engine", "local"] if args.quick else ["--engine", "ray", "--workers", "2", "--threads", "1"]
        res = resume(clips, work, engine + cli_opts)
        loop = analyze_loop(clips, work, 2, cli_opts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = "python benchmarks/batch_scaling.py" + (" --quick" if args.quick else "")
    r = {"date": dt.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
         "cpus": os.cpu_count(), "ray": ray.__version__, "quick": args.quick, "command": command,
         "clips": args.clips, "frames_per_clip": args.frames, "detector": args.detector,
         "config": f"{args.clips} clips of {args.frames} frames (320 x 240, 10 fps), --detector {args.detector}"
                   + ("; resume on the local engine" if args.quick else ""),
         "scaling": scaling, "resume": res, "loop_s": loop, "total_s": time.perf_counter() - t0}
    r["projection"] = projection(scaling, args)
    from affectkit.io.write import write_json_atomic

    write_section(md, render(r))
    write_json_atomic(js, r)
    print(render(r))
    print(f"wrote {md} and {js} in {r['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
