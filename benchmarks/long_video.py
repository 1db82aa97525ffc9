"""Peak memory and speed of ``affectkit analyze`` on long videos; writes docs/long_video.{md,json}.

    .venv/bin/python benchmarks/long_video.py [--minutes 1 3 10] [--every 5] [--format csv]

For each length, a synthetic video is made by looping ``shared/media/WolfgangLanger_Pexels.mp4``
(640x360, 23.98 fps, 472 frames, 19.7 s) with PyAV (re-encoded as H.264) into ``runs/bench/``
(git-ignored; reused when it exists). Then ``affectkit analyze`` runs on it in a fresh
subprocess with tracking on (the default), and the script records the child's peak resident
memory (``os.wait4`` rusage ``ru_maxrss``), its wall time and frames per second. ``--every N``
still decodes every frame but detects and recognises only every N-th, so "decoded fps" counts
all frames and "analysed fps" the analysed ones.

Memory that stays flat as the video gets longer is the claim under test: the command
streams the table to disk and keeps only a bounded amount of state.

Needs the shared data folder (``$AFFECTKIT_SHARED`` or ``../shared``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NAME = "WolfgangLanger_Pexels.mp4"


def make_looped_video(source: Path, path: Path, minutes: float) -> int:
    """Write ``source`` looped to ``minutes`` long at ``path`` (H.264, or MPEG-4 Part 2); return its frame count."""
    with av.open(str(source)) as c:
        stream = c.streams.video[0]
        rate = stream.average_rate or Fraction(24)
    n_frames = max(1, round(minutes * 60 * float(rate)))
    tmp = path.with_name(f".{path.name}")
    written = 0
    with av.open(str(tmp), "w", format="mp4") as out:
        try:
            enc = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "23"})
        except (av.error.FFmpegError, ValueError):
            enc = out.add_stream("mpeg4", rate=rate)
        enc.pix_fmt = "yuv420p"
        while written < n_frames:
            with av.open(str(source)) as c:  # one pass over the clip per loop; nothing is held
                for frame in c.decode(video=0):
                    if not enc.width:
                        enc.width, enc.height = frame.width, frame.height
                    img = frame.reformat(format="yuv420p")
                    img.pts, img.time_base = written, 1 / Fraction(rate)  # consecutive over the loops
                    for packet in enc.encode(img):
                        out.mux(packet)
                    written += 1
                    if written == n_frames:
                        break
        for packet in enc.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return n_frames


def _rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # gone, or no /proc (not Linux)
        return None
    return None


def run_analyze(video: Path, output: Path, every: int, extra: list[str], sample_s: float = 0.5) -> dict:
    """Run ``affectkit analyze`` in a subprocess; return its wall time, peak RSS and RSS over time.

    The peak is the child's own ``ru_maxrss`` (``os.wait4``); the RSS samples (from
    ``/proc/PID/status`` every ``sample_s`` seconds) show whether memory still grows late
    in the run, which a peak alone cannot.
    """
    cmd = [sys.executable, "-m", "affectkit.cli", "analyze", str(video), "-o", str(output),
           "--every", str(every), "-q", *extra]
    samples: list[tuple[float, float]] = []
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would block the child
        proc = subprocess.Popen(cmd, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # this child's own rusage
            if pid:
                break
            if (rss := _rss_mib(proc.pid)) is not None:
                samples.append((round(time.perf_counter() - t, 1), round(rss, 1)))
            time.sleep(sample_s)
        wall = time.perf_counter() - t
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise SystemExit(f"analyze failed (exit {code}) on {video}:\n{err.read().decode(errors='replace')}")
    shown = [str(Path(a).relative_to(ROOT)) if Path(a).is_absolute() and Path(a).is_relative_to(ROOT) else a
             for a in cmd[3:]]

    def rss_at(fraction: float) -> float | None:
        return samples[min(int(fraction * len(samples)), len(samples) - 1)][1] if samples else None

    return {"command": shlex.join(["affectkit", *shown]), "wall_s": wall,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux reports KiB
            "rss_mib_at_25_50_75_100_percent": [rss_at(f) for f in (0.25, 0.5, 0.75, 1.0)],
            "rss_growth_second_half_mib": rss_at(1.0) - rss_at(0.5) if samples else None,
            "rss_samples_s_mib": samples[:: max(1, len(samples) // 200)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 10], help="video lengths to run")
    parser.add_argument("--every", type=int, default=5, help="analyse every N-th frame (all are decoded)")
    parser.add_argument("--format", choices=["csv", "parquet", "json"], default="csv", help="output table format")
    parser.add_argument("--extra", default="", help='more analyze options, e.g. "--smooth 0.5 --impute 1"')
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench", help="folder for videos and tables")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where long_video.md/.json go")
    args = parser.parse_args()

    from affectkit.paths import shared_dir
    from affectkit.table import read_table

    source = shared_dir() / "media" / SOURCE_NAME
    if not source.is_file():
        raise SystemExit(f"{source}: not found; set AFFECTKIT_SHARED to the shared data folder")
    args.work.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(args.extra)
    load_before = os.getloadavg()
    runs = []
    for minutes in args.minutes:
        video = args.work / f"loop_{minutes:g}min.mp4"
        if not video.exists():
            t = time.perf_counter()
            make_looped_video(source, video, minutes)
            print(f"made {video} in {time.perf_counter() - t:.0f} s", flush=True)
        with av.open(str(video)) as c:
            n_frames = sum(1 for p in c.demux(video=0) if p.size)  # the last packet is an empty marker
        output = args.work / f"loop_{minutes:g}min.{args.format}"
        result = run_analyze(video, output, args.every, extra)
        table = read_table(output)
        analysed = int(table[["source", "frame"]].drop_duplicates().shape[0])
        with_face = int(table.loc[table["face"].notna(), "frame"].nunique())
        run = {
            "minutes": minutes, "video_frames": n_frames, "frames_analysed": analysed,
            "frames_with_face": with_face, "rows": len(table),
            "tracks": int(table["track_id"].nunique()), "output_bytes": output.stat().st_size,
            **result,
            "decoded_fps": n_frames / result["wall_s"], "analysed_fps": analysed / result["wall_s"],
        }
        del table
        runs.append(run)
        print(f"{minutes:g} min: {n_frames} frames, peak RSS {run['peak_rss_mib']:.0f} MiB, "
              f"{run['wall_s']:.0f} s, {run['decoded_fps']:.1f} decoded fps, {run['analysed_fps']:.2f} analysed fps",
              flush=True)

    import torch

    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                   f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}",
        "python": platform.python_version(), "torch": torch.__version__,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "niceness": os.nice(0),
        "source": f"shared/media/{SOURCE_NAME}", "every": args.every, "format": args.format, "extra": extra,
        "benchmark_command": shlex.join(["python", "benchmarks/long_video.py", *sys.argv[1:]]),
        "runs": runs,
    }
    rss = [r["peak_rss_mib"] for r in runs]
    report["peak_rss_spread_mib"] = max(rss) - min(rss)
    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / "long_video.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.docs / "long_video.md").write_text(markdown(report))
    print(f"wrote {args.docs / 'long_video.md'} and {args.docs / 'long_video.json'}")


def markdown(r: dict) -> str:
    lines = [
        "# Long videos: memory and speed of `affectkit analyze`",
        "",
        "Written by one command, on a machine with the shared data folder:",
        "",
        f"    {r['benchmark_command']}",
        "",
        f"Run on {r['date']} on {r['machine']}, Python {r['python']}, torch {r['torch']}; "
        f"load average {r['load_average_before_after'][0]} before and {r['load_average_before_after'][1]} after, "
        f"niceness {r['niceness']} (other work on the machine slows the fps figures, not the memory ones).",
        "",
        f"Each video loops `{r['source']}` (640x360, 23.98 fps, 19.7 s) to the given length. Each row is one "
        f"`affectkit analyze` run in a fresh process, tracking on (the default), writing `.{r['format']}`. "
        f"`--every {r['every']}` decodes every frame but analyses only every {r['every']}th: *decoded fps* "
        f"counts all frames, *analysed fps* the analysed ones; wall time includes the start-up (imports, "
        "loading the detector and the model). Peak RSS is the child process's `ru_maxrss`; the RSS "
        "columns are samples of `/proc/PID/status` at a quarter, half, three quarters and the end of the "
        "run's wall time (the full series is in the JSON file).",
        "",
        "| minutes | video frames | analysed frames | rows | tracks | wall (s) | decoded fps | analysed fps "
        "| peak RSS (MiB) | RSS at 25/50/75/100 % of the run (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["runs"]:
        lines.append(f"| {x['minutes']:g} | {x['video_frames']} | {x['frames_analysed']} | {x['rows']} | {x['tracks']} "
                     f"| {x['wall_s']:.0f} | {x['decoded_fps']:.1f} | {x['analysed_fps']:.2f} | {x['peak_rss_mib']:.0f} "
                     f"| {' / '.join(f'{v:.0f}' for v in x['rss_mib_at_25_50_75_100_percent'] if v is not None)} |")
    lines += [
        "",
        f"Peak RSS spread over the lengths: {r['peak_rss_spread_mib']:.0f} MiB; RSS growth over the second half "
        "of each run: " + ", ".join(f"{x['rss_growth_second_half_mib']:+.0f} MiB ({x['minutes']:g} min)"
                                    for x in r["runs"] if x["rss_growth_second_half_mib"] is not None) + ". "
        "The table is streamed to disk and the tracker, smoothing and imputation keep bounded state; most "
        "of the memory is the fixed cost of torch, the detector and the model. Compare the peaks across "
        "lengths: within one run, RSS moves by tens of MiB as native (torch, detector) allocations come and "
        "go, so the second-half growth of a short run is a noisy signal."
        + (" Peaks that rise with length by more than 100 MiB do not show flat memory: they point at native "
           "allocator growth (variable-size detector tensors) or a leak, which these runs cannot tell apart."
           if r["peak_rss_spread_mib"] > 100 else ""),
        "",
        "Commands that were run:",
        "",
        *[f"    {x['command']}" for x in r["runs"]],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
