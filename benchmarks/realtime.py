"""Real-time and start-up figures of the torch-free inference path (issue #16).

    python benchmarks/realtime.py [--fer-python .peer-fer-venv/bin/python] [--reps 3]
    python benchmarks/realtime.py --quick        # a smoke run (< 2 min): 1 rep, short inputs

Measures, on this machine and in this run (the machines are shared and noisy: read the
ratios, not the absolute times):

* end to end on ``WolfgangLanger_Pexels.mp4`` as whole processes (start-up, decoding,
  detection, model, table), affectkit against the peer ``fer`` (OpenCV Haar +
  mini-Xception, ``../shared/peers``), run in turn A B A B ..., median of ``--reps``,
  and their ratio; peak resident memory of each process; affectkit with its defaults
  (faces detected every 0.1 s of video and followed in between) and with
  ``--detect-every 1`` (MTCNN on every frame);
* one image, start to table (``affectkit analyze single_face.jpg``);
* ``affectkit --help`` (start-up of the command line);
* the face model per crop on ONNX Runtime and on torch (one thread each, mirror TTA);
* ``affectkit live`` on a 30 fps file source (the clip's frames re-timed to 30 fps and
  looped, written to ``runs/bench/``): analysed frames per second, dropped frames,
  latency (median, p95);
* ``--detector haar`` against ``--detector mtcnn`` (whole processes).

Writes ``docs/realtime.json`` and the section of ``docs/benchmarks.md`` between
``<!-- realtime:begin -->`` and ``<!-- realtime:end -->``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectkit.paths import shared_dir  # noqa: E402

BEGIN, END = "<!-- realtime:begin -->", "<!-- realtime:end -->"

# Runs a command and prints its wall time and peak RSS (the children's ru_maxrss is this one child's).
_WRAP = ("import resource, subprocess, sys, time, json\n"
         "t = time.perf_counter()\n"
         "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
         "dt = time.perf_counter() - t\n"
         "print(json.dumps({'rc': r.returncode, 'wall_s': dt, 'peak_rss_mib': "
         "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 'err': r.stderr[-400:]}))\n")


def run_process(cmd: list[str], env: dict | None = None) -> dict:
    """Wall time and peak RSS of one whole process."""
    out = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True, env=env)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res['rc']}): {res['err']}")
    return res


def alternate(commands: dict[str, list[str]], reps: int, env: dict) -> dict:
    """Run the commands in turn (A B A B ...) ``reps`` times; median wall time and max peak RSS of each."""
    runs: dict[str, list[dict]] = {k: [] for k in commands}
    for _ in range(reps):
        for name, cmd in commands.items():
            runs[name].append(run_process(cmd, env))
    return {name: {"wall_s": [round(r["wall_s"], 3) for r in rs],
                   "median_s": round(statistics.median(r["wall_s"] for r in rs), 3),
                   "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs), 1)} for name, rs in runs.items()}


def affectkit_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("affectkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "affectkit.cli"]


def crop_speed(n: int, threads: int = 1) -> dict:
    """Face model time per crop, ONNX Runtime against torch, mirror TTA, ``threads`` each."""
    import numpy as np

    from affectkit.models.onnx_face import OnnxRecognizer

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    onnx = OnnxRecognizer(tta="flip", threads=threads)
    out = {"crops": n, "threads": threads}
    onnx.predict_arrays(crops[:8])
    t = time.perf_counter()
    p_onnx = onnx.predict_arrays(crops)[0]
    out["onnx_ms_per_crop"] = round((time.perf_counter() - t) / n * 1000, 3)
    try:
        import torch

        from affectkit.models.recognizer import Recognizer
    except ImportError:
        out["torch_ms_per_crop"] = None
        return out
    torch.set_num_threads(threads)
    rec = Recognizer(tta="flip")
    rec.predict_arrays(crops[:8])
    t = time.perf_counter()
    p_torch = rec.predict_arrays(crops)[0]
    out["torch_ms_per_crop"] = round((time.perf_counter() - t) / n * 1000, 3)
    out["torch_over_onnx"] = round(out["torch_ms_per_crop"] / out["onnx_ms_per_crop"], 2)
    out["max_abs_diff"] = float(np.abs(p_onnx - p_torch).max())
    return out


def source_30fps(clip: Path) -> Path:
    """The clip's frames re-timed to 30 fps and looped to 30 s (``runs/bench/``, made once)."""
    from long_video import make_looped_video  # benchmarks/ is on sys.path when this script runs

    path = ROOT / "runs" / "bench" / f"{clip.stem}_30fps.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_looped_video(clip, path, 0.5, rate=30)
    return path


def live_figures(source: Path, seconds: float, threads: int) -> dict:
    """``affectkit live`` on a file source played at its own rate: fps, drops, latency."""
    from affectkit.live import Grabber, LiveStats, live

    stats = LiveStats()
    for r in live(source, threads=threads, max_seconds=seconds):
        stats.add(r)
    return {"source_fps": Grabber(source).fps, "seconds": seconds, **{k: (round(v, 2) if isinstance(v, float) else v)
                                                                     for k, v in stats.as_dict().items()}}


def render(r: dict) -> str:
    e2e, q = r["end_to_end"], r["quick"]
    lines = [BEGIN, "## Real time and start-up (torch-free inference, `benchmarks/realtime.py`)", ""]
    if q:
        lines += ["**Smoke run (`--quick`): one repetition on short inputs; not the figures to quote.**", ""]
    lines += [f"{r['machine']}; {r['date']}; ONNX Runtime threads: {r['threads']} (0 = one per core). "
              f"Whole processes, run in turn, median of {r['reps']}.", "",
              "| what | affectkit | fer (peer) | fer / affectkit |", "|---|---|---|---|"]
    a, a1, f = e2e.get("affectkit"), e2e.get("affectkit_every_frame"), e2e.get("fer")
    for name, x in (("defaults", a), ("`--detect-every 1`", a1)):
        if not x:
            continue
        ratio = f"{f['median_s'] / x['median_s']:.2f}" if f else "–"
        lines.append(f"| {e2e['clip']} end to end, s, affectkit {name} | {x['median_s']:.2f} "
                     f"| {f['median_s'] if f else '–'} | {ratio} |")
        lines.append(f"| peak RSS, MiB, affectkit {name} | {x['peak_rss_mib']:.0f} "
                     f"| {f['peak_rss_mib'] if f else '–'} | |")
    lines += ["", "| measure | value |", "|---|---|",
              f"| one image start to table (`{r['image']['input']}`), s | {r['image']['median_s']:.2f} |",
              f"| `affectkit --help`, s | {r['help']['median_s']:.2f} |",
              f"| face model per crop, ONNX Runtime (1 thread, flip), ms | {r['crops']['onnx_ms_per_crop']} |",
              f"| face model per crop, torch (1 thread, flip), ms | {r['crops'].get('torch_ms_per_crop')} |",
              f"| torch / ONNX Runtime per crop | {r['crops'].get('torch_over_onnx', '–')} |",
              f"| live on a {r['live']['source_fps']:.0f} fps file: analysed fps | {r['live']['fps']} |",
              f"| live: dropped / grabbed | {r['live']['dropped']} / {r['live']['grabbed']} |",
              f"| live latency median / p95, ms | {r['live']['latency_ms_median']:.0f} / {r['live']['latency_ms_p95']:.0f} |",
              f"| `--detector haar` / `--detector mtcnn`, whole process ({r['detectors']['input']}) | "
              f"{r['detectors']['haar']['median_s'] / r['detectors']['mtcnn']['median_s']:.2f} |", ""]
    if not f:
        lines += [f"fer was not run: {e2e.get('fer_note', '')}", ""]
    lines.append(END)
    return "\n".join(lines)


def write_section(md: Path, section: str) -> None:
    text = md.read_text() if md.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    md.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 repetition on short inputs (a smoke run, < 2 min)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads for affectkit (0: one per core)")
    ap.add_argument("--fer-python", default=str(ROOT / ".peer-fer-venv" / "bin" / "python"),
                    help="the peer's venv python (bash ../shared/peers/fer/setup.sh .peer-fer-venv)")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    media = shared_dir() / "media"
    clip = media / ("single_face.mp4" if args.quick else "WolfgangLanger_Pexels.mp4")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or os.cpu_count() or 1)}
    ak = affectkit_cmd()
    work = Path(tempfile.mkdtemp(prefix="realtime-"))
    threads = ["--threads", str(args.threads)]
    commands = {"affectkit": [*ak, "analyze", str(clip), "-o", str(work / "t.csv"), "-q", *threads],
                "affectkit_every_frame": [*ak, "analyze", str(clip), "-o", str(work / "t1.csv"), "-q", *threads,
                                          "--detect-every", "1"]}
    fer_py = Path(args.fer_python)
    run_fer = shared_dir() / "peers" / "fer" / "run_fer.py"
    e2e: dict = {"clip": clip.name}
    if fer_py.exists() and run_fer.exists():
        commands["fer"] = [str(fer_py), str(run_fer), "video", str(clip)]
    else:
        e2e["fer_note"] = f"no peer venv at {fer_py} (bash ../shared/peers/fer/setup.sh .peer-fer-venv)"
    e2e.update(alternate(commands, reps, env))
    image = media / "single_face.jpg"
    r = {
        "quick": args.quick, "reps": reps, "threads": args.threads, "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "end_to_end": e2e,
        "image": {"input": image.name, **alternate({"x": [*ak, "analyze", str(image), "-o", str(work / "i.csv"), "-q",
                                                          *threads]}, reps, env)["x"]},
        "help": alternate({"x": [*ak, "--help"]}, reps, env)["x"],
        "crops": crop_speed(64 if args.quick else 512),
        "live": live_figures(media / "single_face.mp4" if args.quick else source_30fps(clip),
                             2.0 if args.quick else 15.0, args.threads),
    }
    det_clip = media / "single_face.mp4"
    det = alternate({d: [*ak, "analyze", str(det_clip), "-o", str(work / f"{d}.csv"), "-q", "--detector", d, *threads]
                     for d in ("haar", "mtcnn")}, reps, env)
    r["detectors"] = {"input": det_clip.name, **det}
    args.docs.mkdir(parents=True, exist_ok=True)
    (args.docs / "realtime.json").write_text(json.dumps(r, indent=2) + "\n")
    write_section(args.docs / "benchmarks.md", render(r))
    print(render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
