"""What ``--detect-every K`` costs against detecting on every frame; writes docs/detect_every.{md,json}.

    .venv/bin/python benchmarks/detect_every.py [--detectors mtcnn haar] [--ks auto 2 3 5 10] [--every 1 5]

For each shared video (``WolfgangLanger_Pexels.mp4``, ``single_face.mp4``,
``noface_face.mov``, ``face_noface.mov``) and each ``--every N``, the pipeline runs once
with ``detect_every=1`` (the reference: the detector on every analysed frame) and once
per K (``auto``: the default, a detection every 0.1 s of video). The
rows of a frame are matched to the reference's by box IoU (greedy, highest first), and the
script reports:

* **box IoU** of the matched faces (median, 5th percentile);
* **face recall**: reference faces with a match of IoU >= 0.5; **extra faces**: faces
  with no such match, per 100 reference faces;
* **eye error**: distance between the eye landmarks, in percent of the reference's
  inter-ocular distance (median, 95th percentile); alignment turns on the eyes;
* **expression agreement** (same arg-max class) and the median absolute change of
  valence and arousal, on matched faces;
* **detections** (frames the full detector ran on) and the seconds spent detecting
  and following, in the same process, median of ``--reps``.

Each detector (``--detectors``, default MTCNN and Haar) is compared with itself, with
tracking off so that the comparison is of detection alone. Needs the shared data folder (``$AFFECTKIT_SHARED``
or ``../shared``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectkit.expressions import EXPRESSIONS  # noqa: E402
from affectkit.paths import shared_dir  # noqa: E402
from affectkit.pipeline import Analyzer  # noqa: E402

VIDEOS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "noface_face.mov", "face_noface.mov")


def run(path: Path, detector: str, every: int, k: int, threads: int) -> tuple[dict[int, list[dict]], float, int]:
    """Rows per frame, seconds in detection, and detector runs."""
    a = Analyzer(detector=detector, detect_every=k, every=every, track=False, threads=threads)
    frames: dict[int, list[dict]] = {}
    for rows in a.iter_source(path):
        for r in rows:  # a frame without a face has one row without "face"
            frames.setdefault(r["frame"], []).extend([r] if r.get("face") is not None else [])
    return frames, a.timings["detect"], (a.frames_done if k == 1 else a.detections)


BOX = ("x", "y", "width", "height")


def iou(a: dict, b: dict) -> float:
    """IoU of two table rows' boxes (the tracker's :func:`~affectkit.faces.tracking.box_iou`)."""
    from affectkit.faces.tracking import box_iou

    return float(box_iou([a[k] for k in BOX], [b[k] for k in BOX])[0, 0])


def eyes(r: dict) -> np.ndarray:
    return np.array([[r["landmark_left_eye_x"], r["landmark_left_eye_y"]],
                     [r["landmark_right_eye_x"], r["landmark_right_eye_y"]]], float)


def compare(ref: dict[int, list[dict]], got: dict[int, list[dict]]) -> dict:
    """Match each frame's faces to the reference's by IoU; summary figures."""
    ious, eye_err, agree, dv, da = [], [], [], [], []
    n_ref = n_got = matched = 0
    for frame, rs in ref.items():
        gs = got.get(frame, [])
        n_ref += len(rs)
        n_got += len(gs)
        pairs = sorted(((iou(r, g), i, j) for i, r in enumerate(rs) for j, g in enumerate(gs)), reverse=True)
        used_r, used_g = set(), set()
        for v, i, j in pairs:
            if v < 0.5 or i in used_r or j in used_g:
                continue
            used_r.add(i)
            used_g.add(j)
            r, g = rs[i], gs[j]
            matched += 1
            ious.append(v)
            e_r, e_g = eyes(r), eyes(g)
            iod = float(np.linalg.norm(e_r[0] - e_r[1]))
            err = float(np.linalg.norm(e_r - e_g, axis=1).max()) / iod * 100
            if np.isfinite(err):  # Haar's eyes are not always found
                eye_err.append(err)
            agree.append(max(EXPRESSIONS, key=lambda c: r[c]) == max(EXPRESSIONS, key=lambda c: g[c]))
            dv.append(abs(r["valence"] - g["valence"]))
            da.append(abs(r["arousal"] - g["arousal"]))
    q = (lambda xs, p: round(float(np.percentile(xs, p)), 3) if xs else None)
    return {"reference_faces": n_ref, "faces": n_got, "recall": round(matched / n_ref, 4) if n_ref else None,
            "extra_per_100": round((n_got - matched) / n_ref * 100, 2) if n_ref else None,
            "iou_median": q(ious, 50), "iou_p5": q(ious, 5), "eye_error_pct_median": q(eye_err, 50),
            "eye_error_pct_p95": q(eye_err, 95),
            "expression_agreement": round(float(np.mean(agree)), 4) if agree else None,
            "valence_abs_diff_median": q(dv, 50), "arousal_abs_diff_median": q(da, 50)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detectors", nargs="+", default=["mtcnn", "haar"])
    ap.add_argument("--ks", type=lambda v: None if v == "auto" else int(v), nargs="+", default=[None, 2, 3, 5, 10],
                    help="detect_every values; auto = the default (every 0.1 s of video)")
    ap.add_argument("--every", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--reps", type=int, default=3, help="runs per setting for the detection seconds (median)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args(argv)
    media = shared_dir() / "media"
    results = []
    for detector, name, every in itertools.product(args.detectors, VIDEOS, args.every):
        path = media / name
        ref_runs = [run(path, detector, every, 1, args.threads) for _ in range(args.reps)]
        ref = ref_runs[0][0]
        ref_s = statistics.median(r[1] for r in ref_runs)
        results.append({"detector": detector, "video": name, "every": every, "detect_every": 1,
                        "detections": ref_runs[0][2], "frames": len(ref), "detect_s": round(ref_s, 3)})
        for k in args.ks:
            runs = [run(path, detector, every, k, args.threads) for _ in range(args.reps)]
            sec = statistics.median(r[1] for r in runs)
            results.append({"detector": detector, "video": name, "every": every, "detect_every": k,
                            "detections": runs[0][2],
                            "frames": len(runs[0][0]), "detect_s": round(sec, 3),
                            "detect_speedup": round(ref_s / sec, 2) if sec else None,
                            **compare(ref, runs[0][0])})
            print(results[-1], flush=True)
    meta = {"date": dt.date.today().isoformat(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "threads": args.threads, "reps": args.reps,
            "command": "python benchmarks/detect_every.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "detect_every.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    (args.out / "detect_every.md").write_text(render(meta, results))
    return 0


def render(meta: dict, results: list[dict]) -> str:
    f = (lambda v, fmt="{}": "–" if v is None else fmt.format(v))
    lines = [
        "# `--detect-every K`: what following faces costs",
        "",
        f"Written by `{meta['command'].strip()}` on {meta['date']} ({meta['machine']}, {meta['cpus']} CPUs, "
        f"Python {meta['python']}). Detection on every K-th analysed frame; in between, each face of the "
        "frame before is re-found (MTCNN: by the O-net alone, `OnnxMTCNN.follow`; Haar: by the cascade near the "
        "face, `HaarDetector.follow`), and a frame where one is lost is detected at once. Compared, frame by "
        "frame, with `--detect-every 1` (the same detector on every analysed frame) "
        "in the same run; tracking off. Detection seconds: time inside detection and following, median of "
        f"{meta['reps']} runs in one process.",
        "",
        "Face recall: reference faces matched at IoU >= 0.5. Extra: unmatched faces per 100 reference faces. "
        "Eye error: the larger of the two eye-landmark distances, in % of the reference's inter-ocular distance. "
        "Expression agreement: same arg-max class on matched faces. |Δ valence|, |Δ arousal|: medians.",
        "",
        "| detector | video | --every | K | detections / frames | detect s | speed-up | recall | extra /100 | IoU median (p5) "
        "| eye error % median (p95) | expression agreement | abs Δ valence | abs Δ arousal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["detect_every"] == 1:
            lines.append(f"| {r['detector']} | {r['video']} | {r['every']} | 1 | {r['detections']} / {r['frames']} | {r['detect_s']} "
                         "| 1.00 | reference | | | | | | |")
            continue
        lines.append(
            f"| {r['detector']} | {r['video']} | {r['every']} | {r['detect_every'] or 'default (0.1 s)'} | {r['detections']} / {r['frames']} | {r['detect_s']} "
            f"| {f(r['detect_speedup'], '{:.2f}')} | {f(r['recall'], '{:.3f}')} | {f(r['extra_per_100'])} "
            f"| {f(r['iou_median'])} ({f(r['iou_p5'])}) | {f(r['eye_error_pct_median'])} ({f(r['eye_error_pct_p95'])}) "
            f"| {f(r['expression_agreement'], '{:.3f}')} | {f(r['valence_abs_diff_median'])} "
            f"| {f(r['arousal_abs_diff_median'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
