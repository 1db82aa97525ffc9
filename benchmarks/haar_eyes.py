"""The Haar path's eye search at several face widths; writes docs/haar_eyes.{md,json}.

``HaarDetector`` finds the eye centres that Ng et al. 2015 alignment needs with OpenCV's
eye cascade, on the upper half of each face shrunk to ``EYE_SEARCH_WIDTH`` pixels. This
compares widths on the faces Haar finds in the shared media (every 3rd frame of the four
videos, and the photos): how often both eyes are found, how far they are from MTCNN's
eye landmarks (in % of MTCNN's inter-ocular distance, faces matched at IoU >= 0.4), and
the search time per face (median of 3 passes, in this process).

    .venv/bin/python benchmarks/haar_eyes.py [--widths 120 140 160 180]

Needs the shared data folder (``$AFFECTKIT_SHARED`` or ``../shared``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectkit.paths import shared_dir  # noqa: E402

VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")


def frames(media: Path) -> list[np.ndarray]:
    """RGB frames: every 3rd of each shared video, and the shared ``.jpg`` photos."""
    from affectkit.io.media import iter_frames

    out = [f.image for v in VIDEOS for f in iter_frames(media / v) if f.index % 3 == 0]
    return out + [next(iter(iter_frames(p))).image for p in sorted(media.glob("*.jpg"))]


def main() -> int:
    import cv2

    import affectkit.faces.detect as detect
    from affectkit.faces.mtcnn_onnx import OnnxMTCNN
    from affectkit.faces.tracking import box_iou
    from affectkit.io.write import atomic_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[120, 140, 160, 180])
    ap.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = ap.parse_args()

    haar, mtcnn = detect.HaarDetector(), OnnxMTCNN()
    cases = []  # (equalised grey frame, Haar box, MTCNN's two eyes or None)
    for image in frames(shared_dir() / "media"):
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))  # as HaarDetector.detect_batch
        ref = mtcnn.detect_batch([image])[0]
        for face in haar.detect_batch([image])[0]:
            overlap = box_iou(face.box, np.stack([r.box for r in ref])) if ref else np.zeros((1, 0))
            eyes = ref[int(overlap.argmax())].landmarks[:2] if overlap.size and overlap.max() >= 0.4 else None
            cases.append((grey, face.box.astype(int), eyes))
    chosen = detect.EYE_SEARCH_WIDTH
    rows = []
    for width in args.widths:
        detect.EYE_SEARCH_WIDTH = width
        times, found = [], []
        for _ in range(3):
            t = time.perf_counter()
            found = [haar._eyes(grey, *box) for grey, box, _ in cases]
            times.append((time.perf_counter() - t) / len(cases) * 1e3)
        err = [100 * np.linalg.norm(e - ref, axis=1).max() / np.linalg.norm(ref[1] - ref[0])
               for e, (_, _, ref) in zip(found, cases) if e is not None and ref is not None]
        rows.append({"width": width, "faces": len(cases), "both_eyes": sum(e is not None for e in found),
                     "eye_error_pct_median": round(float(np.median(err)), 2),
                     "eye_error_pct_p90": round(float(np.quantile(err, 0.9)), 2),
                     "ms_per_face": round(statistics.median(times), 2)})
        print(rows[-1], flush=True)
    detect.EYE_SEARCH_WIDTH = chosen
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
            "shipped_width": chosen}
    lines = ["# Haar eye search: face width", "",
             f"Written by `python benchmarks/haar_eyes.py` on {meta['date']} ({meta['machine']}). "
             "Faces Haar finds in the shared media (every 3rd frame of the four videos, and the photos); eye error "
             "against MTCNN's eye landmarks, in % of its inter-ocular distance (faces matched at IoU >= 0.4); "
             f"search time per face, median of 3 passes. Shipped: `EYE_SEARCH_WIDTH = {chosen}`.", "",
             "| width, px | faces | both eyes found | eye error % median (p90) | ms per face |", "|---|---|---|---|---|"]
    lines += [f"| {r['width']} | {r['faces']} | {r['both_eyes']} | {r['eye_error_pct_median']} "
              f"({r['eye_error_pct_p90']}) | {r['ms_per_face']} |" for r in rows]
    args.docs.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.docs / "haar_eyes.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(args.docs / "haar_eyes.json") as tmp:
        tmp.write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
