"""Peak memory and speed of ``affectkit analyze`` on long videos; writes docs/long_video.{md,json}.

    .venv/bin/python benchmarks/long_video.py [--minutes 1 3 10] [--every 5] [--format csv]

For each length, a synthetic video is made by looping ``shared/media/WolfgangLanger_Pexels.mp4``
(640x360, 23.98 fps, 472 frames, 19.7 s) with PyAV (re-encoded as H.264) into ``runs/bench/``
(git-ignored; reused when it exists). Then ``affectkit analyze`` runs on it in a fresh
subprocess with tracking on (the default), and the script records the child's peak resident
memory (``ru_maxrss`` when the command's work is done, and over the whole process with
``os.wait4``), its wall time and frames per second. ``--every N``
still decodes every frame but detects and recognises only every N-th, so "decoded fps" counts
all frames and "analysed fps" the analysed ones.

Memory that stays flat as the video gets longer is the claim under test: the command
streams the table to disk, keeps only a bounded amount of state, pads the detector's
variable-size batches to a few fixed sizes (``affectkit.faces.batching.padded_size``), so
that a long video does not keep allocating tensors of new sizes. :func:`flatness` turns the runs into a PASS/FAIL verdict
(thresholds ``PEAK_GROWTH_MAX_MIB`` and ``SLOPE_MAX_MIB_PER_MIN``). ``--no-track-minutes``
adds a run with ``--no-track`` to show what tracking costs; ``--control-minutes`` adds runs
with the detector's batch padding turned off, to show what it changes.

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

# "Flat memory", in numbers. The peak of the longest video may exceed the peak of the
# shortest by at most PEAK_GROWTH_MAX_MIB: start-up (imports, detector, model) is a fixed
# cost both include, and what still grows early in a run is bounded -- per-shape caches
# of the convolution library, one per distinct number of MTCNN candidate boxes, a few
# tens of MiB that stop growing once the shapes have been seen. And over the second half
# of the longest run, the least-squares slope of RSS may be at most SLOPE_MAX_MIB_PER_MIN
# per minute of video (a leak of that rate would add 20 MiB to a 10-minute video).
PEAK_GROWTH_MAX_MIB = 50.0
SLOPE_MAX_MIB_PER_MIN = 2.0

# The child: `affectkit analyze` as the command line runs it, plus an exit handler that
# writes the process's peak RSS so far (KiB) to the file named by $AFFECTKIT_BENCH_PEAK.
# The handler is registered first, so it runs last of the exit handlers: after the command
# has done all its work, but before the interpreter's own shutdown, which frees the
# libraries' memory and briefly raises RSS by a length-independent amount that os.wait4's
# lifetime peak includes (both are reported). The control run also turns off the padding
# of MTCNN's R-/O-net batches in the ONNX detector that analyze runs (padded_size becomes
# the identity in affectkit.faces.mtcnn_onnx before the detector is built).
_CHILD_CODE = (
    "import atexit, os, resource; "
    "atexit.register(lambda: open(os.environ['AFFECTKIT_BENCH_PEAK'], 'w')"
    ".write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))); "
    "{control}import runpy; runpy.run_module('affectkit.cli', run_name='__main__')"
)
_CONTROL = "import affectkit.faces.mtcnn_onnx as m; m.padded_size = lambda n: n; "


def make_looped_video(source: Path, path: Path, minutes: float, rate: Fraction | None = None) -> int:
    """Write ``source`` looped to ``minutes`` long at ``path`` (H.264, or MPEG-4 Part 2); return its frame count.

    ``rate`` (frames/s) re-times the frames (each frame is kept, played at this rate);
    default the source's own.
    """
    with av.open(str(source)) as c:
        stream = c.streams.video[0]
        rate = Fraction(rate) if rate else (stream.average_rate or Fraction(24))
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


def second_half_slope(samples: list[tuple[float, float]], wall_s: float, minutes: float) -> float | None:
    """Least-squares slope of RSS over the second half of a run, MiB per minute of video.

    Parameters
    ----------
    samples : list of (float, float)
        ``(seconds since start, RSS in MiB)``.
    wall_s : float
        The run's wall time, seconds.
    minutes : float
        The video's length, minutes.

    Returns
    -------
    float or None
        The slope, converted from MiB per second at ``wall_s / minutes`` seconds per
        minute of video; that rate includes the start-up, so the slope is if anything
        overstated. None with fewer than 3 samples in the second half.
    """
    half = [(t, m) for t, m in samples if t >= wall_s / 2]
    if len(half) < 3:
        return None
    t = [x[0] for x in half]
    m = [x[1] for x in half]
    tm, mm = sum(t) / len(t), sum(m) / len(m)
    var = sum((x - tm) ** 2 for x in t)
    if var == 0:
        return None
    per_s = sum((x - tm) * (y - mm) for x, y in zip(t, m)) / var
    return per_s * wall_s / minutes


def flatness(runs: list[dict], peak_max_mib: float = PEAK_GROWTH_MAX_MIB,
             slope_max_mib_per_min: float = SLOPE_MAX_MIB_PER_MIN) -> dict:
    """Verdict on flat memory from runs of one configuration on videos of different lengths.

    Parameters
    ----------
    runs : list of dict
        Each with ``minutes``, ``peak_rss_mib`` and ``rss_slope_second_half_mib_per_min``
        (see :func:`second_half_slope`); at least two different lengths.
    peak_max_mib : float
        Largest allowed rise of the peak RSS from the shortest to the longest video, MiB.
    slope_max_mib_per_min : float
        Largest allowed RSS slope over the second half of the longest run, MiB per
        minute of video.

    Returns
    -------
    dict
        ``shortest_min``, ``longest_min``, ``peak_growth_mib`` (longest minus shortest),
        ``slope_mib_per_min`` (of the longest run), the two limits, ``peak_ok``,
        ``slope_ok`` and ``passed`` (both).

    Raises
    ------
    ValueError
        If the runs do not cover two different lengths.
    """
    lengths = {r["minutes"] for r in runs}
    if len(lengths) < 2:
        raise ValueError(f"flatness needs runs of at least two video lengths, got {sorted(lengths)}")
    short = min(runs, key=lambda r: r["minutes"])
    long = max(runs, key=lambda r: r["minutes"])
    growth = long["peak_rss_mib"] - short["peak_rss_mib"]
    slope = long["rss_slope_second_half_mib_per_min"]
    peak_ok = growth <= peak_max_mib
    slope_ok = slope is not None and slope <= slope_max_mib_per_min
    return {"shortest_min": short["minutes"], "longest_min": long["minutes"], "peak_growth_mib": growth,
            "slope_mib_per_min": slope, "peak_max_mib": peak_max_mib,
            "slope_max_mib_per_min": slope_max_mib_per_min, "peak_ok": peak_ok, "slope_ok": slope_ok,
            "passed": peak_ok and slope_ok}


def run_analyze(video: Path, output: Path, every: int, extra: list[str], sample_s: float = 0.5,
                control: bool = False) -> dict:
    """Run ``affectkit analyze`` in a subprocess; return its wall time, peak RSS and RSS over time.

    ``peak_rss_mib`` is the child's ``ru_maxrss`` when its work is done (written by its
    last exit handler), ``lifetime_peak_rss_mib`` its ``ru_maxrss`` from ``os.wait4``,
    which also covers the interpreter's shutdown; the RSS samples (from
    ``/proc/PID/status`` every ``sample_s`` seconds, until the work is done at ``work_s``)
    show whether memory still grows late in the run, which a peak alone cannot. ``control`` turns off the
    padding of the detector's R-/O-net batches in the child.
    """
    args = ["analyze", str(video), "-o", str(output), "--every", str(every), "-q", *extra]
    cmd = [sys.executable, "-c", _CHILD_CODE.format(control=_CONTROL if control else ""), *args]
    samples: list[tuple[float, float]] = []
    peak_file = Path(tempfile.mkstemp(prefix="affectkit-peak-")[1])
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would block the child
        proc = subprocess.Popen(cmd, stderr=err, env={**os.environ, "AFFECTKIT_BENCH_PEAK": str(peak_file)})
        work_s = None  # when the child's exit handler wrote its peak: the work is done
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # this child's own rusage
            if pid:
                break
            if work_s is None and peak_file.stat().st_size:
                work_s = time.perf_counter() - t
            if work_s is None and (rss := _rss_mib(proc.pid)) is not None:  # shutdown is not sampled
                samples.append((round(time.perf_counter() - t, 1), round(rss, 1)))
            time.sleep(sample_s)
        wall = time.perf_counter() - t
        work_s = work_s or wall
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise SystemExit(f"analyze failed (exit {code}) on {video}:\n{err.read().decode(errors='replace')}")
    work_peak_kib = float(peak_file.read_text() or "nan")
    peak_file.unlink()
    shown = [str(Path(a).relative_to(ROOT)) if Path(a).is_absolute() and Path(a).is_relative_to(ROOT) else a
             for a in args]

    def rss_at(fraction: float) -> float | None:
        return samples[min(int(fraction * len(samples)), len(samples) - 1)][1] if samples else None

    return {"command": shlex.join(["affectkit", *shown]) + ("  # batch padding off" if control else ""),
            "wall_s": wall, "work_s": work_s,
            "peak_rss_mib": work_peak_kib / 1024,  # Linux reports KiB; up to the end of the command's work
            "lifetime_peak_rss_mib": usage.ru_maxrss / 1024,  # including the interpreter's shutdown
            "rss_mib_at_25_50_75_100_percent": [rss_at(f) for f in (0.25, 0.5, 0.75, 1.0)],
            # when the highest sample was taken: a peak in the run's first or last seconds is start-up or
            # shutdown, one in between is the analysis itself
            "highest_sample_at_percent": 100 * max(samples, key=lambda a: a[1])[0] / work_s if samples else None,
            "rss_growth_second_half_mib": rss_at(1.0) - rss_at(0.5) if samples else None,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_samples_s_mib": samples[:: max(1, len(samples) // 200)], "rss_samples_all": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 10], help="video lengths to run")
    parser.add_argument("--no-track-minutes", type=float, nargs="*", default=[1],
                        help="lengths to run again with --no-track (default 1; none: no such run)")
    parser.add_argument("--control-minutes", type=float, nargs="*", default=[],
                        help="lengths to run again with the padding of the detector's batches off")
    parser.add_argument("--every", type=int, default=5, help="analyse every N-th frame (all are decoded)")
    parser.add_argument("--format", choices=["csv", "parquet", "json"], default="csv", help="output table format")
    parser.add_argument("--extra", default="", help='more analyze options, e.g. "--smooth 0.5 --impute 1"')
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench", help="folder for videos and tables")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where long_video.md/.json go")
    args = parser.parse_args()
    if len(set(args.minutes)) < 2:
        parser.error("--minutes needs at least two different lengths for the verdict")

    from affectkit.paths import shared_dir
    from affectkit.table import read_table

    source = shared_dir() / "media" / SOURCE_NAME
    if not source.is_file():
        raise SystemExit(f"{source}: not found; set AFFECTKIT_SHARED to the shared data folder")
    args.work.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(args.extra)
    load_before = os.getloadavg()
    # Each tracking-off run follows the tracking-on run of its length, so that the two
    # see about the same load from other work on the machine.
    plan = []
    for minutes in args.minutes:
        plan.append((minutes, True, False))
        if minutes in args.no_track_minutes:
            plan.append((minutes, False, False))
    plan += [(m, False, False) for m in args.no_track_minutes if m not in args.minutes]
    plan += [(m, True, True) for m in args.control_minutes]
    runs = []
    for minutes, track, control in plan:
        video = args.work / f"loop_{minutes:g}min.mp4"
        if not video.exists():
            t = time.perf_counter()
            make_looped_video(source, video, minutes)
            print(f"made {video} in {time.perf_counter() - t:.0f} s", flush=True)
        with av.open(str(video)) as c:
            n_frames = sum(1 for p in c.demux(video=0) if p.size)  # the last packet is an empty marker
        tag = ("" if track else "_notrack") + ("_control" if control else "")
        output = args.work / f"loop_{minutes:g}min{tag}.{args.format}"
        load = os.getloadavg()[0]
        result = run_analyze(video, output, args.every, extra + ([] if track else ["--no-track"]), control=control)
        table = read_table(output)
        analysed = int(table[["source", "frame"]].drop_duplicates().shape[0])
        with_face = int(table.loc[table["face"].notna(), "frame"].nunique())
        run = {
            "minutes": minutes, "tracking": track, "padded_batches": not control, "load_average_at_start": round(load, 2),
            "video_frames": n_frames, "frames_analysed": analysed,
            "frames_with_face": with_face, "rows": len(table),
            "tracks": int(table["track_id"].nunique()), "output_bytes": output.stat().st_size,
            **result,
            "rss_slope_second_half_mib_per_min": second_half_slope(result["rss_samples_all"], result["work_s"], minutes),
            "decoded_fps": n_frames / result["wall_s"], "analysed_fps": analysed / result["wall_s"],
        }
        del run["rss_samples_all"], table
        runs.append(run)
        print(f"{minutes:g} min, tracking {'on' if track else 'off'}{', batch padding off' if control else ''}: "
              f"{n_frames} frames, peak RSS {run['peak_rss_mib']:.0f} MiB, {run['wall_s']:.0f} s, "
              f"{run['decoded_fps']:.1f} decoded fps, {run['analysed_fps']:.2f} analysed fps (load {load:.2f})",
              flush=True)

    import torch

    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                   f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}",
        "python": platform.python_version(), "torch": torch.__version__,
        "libc": " ".join(platform.libc_ver()) or "unknown",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "niceness": os.nice(0),
        "source": f"shared/media/{SOURCE_NAME}", "every": args.every, "format": args.format, "extra": extra,
        "benchmark_command": shlex.join(["python", "benchmarks/long_video.py", *sys.argv[1:]]),
        "runs": runs,
    }
    main_runs = [r for r in runs if r["tracking"] and r["padded_batches"]]
    rss = [r["peak_rss_mib"] for r in main_runs]
    report["peak_rss_spread_mib"] = max(rss) - min(rss)
    report["verdict"] = flatness(main_runs)
    control_runs = [r for r in runs if not r["padded_batches"]]
    if len({r["minutes"] for r in control_runs}) >= 2:
        report["verdict_padding_off"] = flatness(control_runs)
    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / "long_video.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.docs / "long_video.md").write_text(markdown(report))
    v = report["verdict"]
    print(f"verdict: {'PASS' if v['passed'] else 'FAIL'} (peak growth {v['peak_growth_mib']:+.0f} MiB, "
          f"slope {_num(v['slope_mib_per_min'], '+.1f')} MiB/min)")
    print(f"wrote {args.docs / 'long_video.md'} and {args.docs / 'long_video.json'}")


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def _row(x: dict) -> str:
    rss = " / ".join(f"{v:.0f}" for v in x["rss_mib_at_25_50_75_100_percent"] if v is not None)
    return (f"| {x['minutes']:g} | {'on' if x['tracking'] else 'off'} | {x['video_frames']} | {x['frames_analysed']} "
            f"| {x['rows']} | {x['tracks']} | {x['wall_s']:.0f} | {x['decoded_fps']:.1f} | {x['analysed_fps']:.2f} "
            f"| {x['load_average_at_start']:.2f} | {x['peak_rss_mib']:.0f} | {_num(x.get('lifetime_peak_rss_mib'), '.0f')} "
            f"| {_num(x.get('highest_sample_at_percent'), '.0f')} "
            f"| {rss} | {_num(x['rss_slope_second_half_mib_per_min'], '+.1f')} | {x['cpu_s']:.0f} |")


def markdown(r: dict) -> str:
    v = r["verdict"]
    runs = [x for x in r["runs"] if x["padded_batches"]]
    controls = [x for x in r["runs"] if not x["padded_batches"]]
    header = [
        "| minutes | tracking | video frames | analysed frames | rows | tracks | wall (s) | decoded fps | analysed fps "
        "| load at start | peak RSS (MiB) | peak RSS with shutdown (MiB) | highest sample at (% of the run) "
        "| RSS at 25/50/75/100 % of the run (MiB) | RSS slope, 2nd half (MiB/min) | CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines = [
        "# Long videos: memory and speed of `affectkit analyze`",
        "",
        "Written by one command, on a machine with the shared data folder:",
        "",
        f"    {r['benchmark_command']}",
        "",
        f"Run on {r['date']} on {r['machine']}, Python {r['python']}, torch {r['torch']}, {r['libc']}; "
        f"load average {r['load_average_before_after'][0]} before and {r['load_average_before_after'][1]} after, "
        f"niceness {r['niceness']} (other work on the machine slows the fps figures, not the memory ones; "
        "the load average at the start of each run is in the table).",
        "",
        "## Verdict",
        "",
        f"**{'PASS' if v['passed'] else 'FAIL'}: memory {'is' if v['passed'] else 'is not'} flat.** "
        "Flat means both of:",
        "",
        f"* the peak RSS of the longest video ({v['longest_min']:g} min) is at most {v['peak_max_mib']:.0f} MiB "
        f"above that of the shortest ({v['shortest_min']:g} min): it is {v['peak_growth_mib']:+.0f} MiB "
        f"({'pass' if v['peak_ok'] else 'fail'});",
        f"* over the second half of the longest run, RSS grows by at most {v['slope_max_mib_per_min']:g} MiB per "
        f"minute of video (least-squares slope): it grows by {_num(v['slope_mib_per_min'], '+.1f')} MiB/min "
        f"({'pass' if v['slope_ok'] else 'fail'}).",
        "",
        "Start-up (imports, loading the detector and the model) is a fixed cost that every run pays, so peaks "
        "are compared across lengths, not against zero. What may still grow early in a run is bounded: the "
        "convolution library keeps per-shape state for every distinct input shape it sees, and MTCNN's "
        "second and third stages see a few padded batch sizes, so this stops growing once they have been seen. "
        "A leak of more than 2 MiB per minute of video fails the second test, and one of more than "
        f"{v['peak_max_mib'] / (v['longest_min'] - v['shortest_min']):.1f} MiB per minute also the first.",
        "",
        "## Runs",
        "",
        f"Each video loops `{r['source']}` (640x360, 23.98 fps, 19.7 s) to the given length. Each row is one "
        f"`affectkit analyze` run in a fresh process, writing `.{r['format']}`; tracking is on (the default) "
        "in every run but the one marked off, which shows what tracking costs. "
        f"`--every {r['every']}` decodes every frame but analyses only every {r['every']}th: *decoded fps* "
        f"counts all frames, *analysed fps* the analysed ones; wall time includes the start-up (imports, "
        "loading the detector and the model). *Peak RSS* is the child process's `ru_maxrss` when the command "
        "has done its work (read by its last exit handler, after the table is written); *with shutdown* is its "
        "`ru_maxrss` over the whole process, which adds the interpreter's shutdown: freeing the libraries' "
        "memory briefly raises RSS by an amount that varies from run to run and does not depend on the video "
        "(the difference of the two columns), so the verdict uses the first. The RSS "
        "columns are samples of `/proc/PID/status` at a quarter, half, three quarters and the end of the "
        "command's work (from its start to its exit handler; the shutdown is not sampled; the series is in the "
        "JSON file), and *highest sample at* says when the highest of them was taken; the slope is the "
        "least-squares slope of those samples over the second half of the work, per minute of video (time per "
        "minute of video includes the start-up, which overstates it if anything). *CPU* is the child's user "
        "plus system time, less sensitive to other work on the machine than the fps.",
        "",
        *header,
        *[_row(x) for x in runs],
        "",
        f"Peak RSS spread over the lengths (tracking on): {r['peak_rss_spread_mib']:.0f} MiB. The table is "
        "streamed to disk, the tracker, smoothing and imputation keep bounded state, MTCNN's second and third "
        "stages run on batches padded to a few fixed sizes (the control below turns that off).",
    ]
    pairs = [(a, b) for a in runs for b in runs
             if a["minutes"] == b["minutes"] and a["tracking"] and not b["tracking"]]
    for on, off in pairs:
        lines += [
            "",
            f"Tracking on the {on['minutes']:g}-min video: {on['analysed_fps']:.2f} analysed fps with it, "
            f"{off['analysed_fps']:.2f} without ({on['wall_s']:.0f} s and {off['wall_s']:.0f} s of wall time, "
            f"{on['cpu_s']:.0f} s and {off['cpu_s']:.0f} s of CPU time, load average {on['load_average_at_start']:.2f} "
            f"and {off['load_average_at_start']:.2f} at their starts); other work on the machine moves "
            "these figures too, so read a small difference as noise.",
        ]
    if controls:
        lines += [
            "",
            "## Control: batch padding turned off",
            "",
            "The same command with the padding of MTCNN's R-/O-net batches turned off, so that they run "
            "on as many candidate boxes as the stage before found:",
            "",
            *header,
            *[_row(x) for x in controls],
        ]
        if (cv := r.get("verdict_padding_off")):
            lines += [
                "",
                f"With the padding off the verdict would be {'PASS' if cv['passed'] else 'FAIL'}: peak growth "
                f"{cv['peak_growth_mib']:+.0f} MiB from {cv['shortest_min']:g} to {cv['longest_min']:g} min, "
                f"slope {_num(cv['slope_mib_per_min'], '+.1f')} MiB/min.",
            ]
        same = [(a, b) for a in runs for b in controls if a["minutes"] == b["minutes"] and a["tracking"]]
        if same:
            lines += ["", "Padding on against off, same video: " + "; ".join(
                f"{a['minutes']:g} min: peak {a['peak_rss_mib'] - b['peak_rss_mib']:+.0f} MiB, "
                f"CPU time {100 * (a['cpu_s'] / b['cpu_s'] - 1):+.0f} %" for a, b in same) + "."]
    lines += [
        "",
        "Commands that were run:",
        "",
        *[f"    {x['command']}" for x in r["runs"]],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
