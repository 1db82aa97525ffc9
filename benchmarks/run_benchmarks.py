"""Measure the shipped model and the main job; write docs/benchmarks.md and the model card's metrics.

    .venv/bin/python benchmarks/run_benchmarks.py [--model default] [--no-card]

* FER-2013 PrivateTest (``shared/data/fer2013/test``) through ``analyze(...,
  faces_cropped=True)`` -- the same path as ``affectkit analyze DIR --faces-cropped`` --
  with accuracy, per-class recall and UAR, on all 3,589 images and with the test images
  whose bytes also occur in the train split removed.
* FER+ PrivateTest (Barsoum et al. 2016 majority labels, the seven classes shared with
  FER-2013: 3,136 faces): accuracy, UAR, per-class recall.
* DiffusionFER held-out split (md5(path) mod 5 == 0): valence and arousal CCC, and
  expression accuracy and UAR.
* The posed photos in ``shared/media`` (expression coded in the file name), through
  ``analyze`` with detection.
* The model's cost per face in MFLOPs (torch's FlopCounterMode; a multiply-add counts 2).
* End-to-end speed of ``analyze`` on ``shared/media/WolfgangLanger_Pexels.mp4``, with
  the time split into decode, detect, align and model.

Needs the shared data folder (``$AFFECTKIT_SHARED`` or ``../shared``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from affectkit import analyze
from affectkit.data.affectnet_csv import load_affectnet_csv
from affectkit.evaluation.metrics import ccc, classification_report
from affectkit.expressions import EXPRESSIONS, FER2013_FOLDERS, class_index
from affectkit.io.write import write_json_atomic
from affectkit.models.card import card_path, read_card
from affectkit.models.recognizer import BUNDLED, Recognizer, bundled_path
from affectkit.paths import shared_dir

ROOT = Path(__file__).resolve().parents[1]


def fer2013_private_test(model: str, shared: Path) -> dict:
    root = shared / "data" / "fer2013"
    train_hashes = {hashlib.md5(p.read_bytes()).digest() for p in (root / "train").rglob("*.jpg")}
    t = time.perf_counter()
    df = analyze(root / "test", faces_cropped=True, model=model)
    seconds = time.perf_counter() - t
    folder_to_id = {f: class_index(c) for f, c in FER2013_FOLDERS.items()}
    y_true = np.array([folder_to_id[Path(s).parent.name] for s in df["source"]])
    y_pred = np.array([class_index(e) for e in df["expression"]])
    dup = np.array([hashlib.md5(Path(s).read_bytes()).digest() in train_hashes for s in df["source"]])
    full = classification_report(y_true, y_pred, len(EXPRESSIONS))
    dedup = classification_report(y_true[~dup], y_pred[~dup], len(EXPRESSIONS))
    return {"all": full, "without_train_duplicates": dedup, "n_duplicates_removed": int(dup.sum()), "seconds": seconds}


def ferplus_private_test(model: str, shared: Path) -> dict:
    from affectkit.data.ferplus import load_ferplus

    data = load_ferplus(shared / "data" / "ferplus", "test")
    probs, _ = Recognizer(model).predict_arrays(data.images)
    keep = data.labels >= 0
    rep = classification_report(data.labels[keep], probs.argmax(1)[keep], len(EXPRESSIONS))
    return {**rep, "n_faces_in_split": len(data)}


POSED = {"su": "surprise", "ha": "happiness", "hao": "happiness", "an": "anger", "anc": "anger", "di": "disgust"}


def posed_photos(model: str, shared: Path) -> list[dict]:
    out = []
    for path in sorted((shared / "media").glob("*-ph.jpg")):
        code = path.stem.split("-")[2]
        df = analyze(path, model=model)
        row = df.dropna(subset=["face"]).iloc[0] if df["face"].notna().any() else None
        out.append({"file": path.name, "posed": POSED.get(code, code),
                    "predicted": None if row is None else row["expression"],
                    "probability": None if row is None else float(row[row["expression"]])})
    return out


def mflops(model: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    rec = Recognizer(model, tta="none")
    x = torch.zeros(1, 1, rec.face_size, rec.face_size)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        rec.net(x)
    return counter.get_total_flops() / 1e6


def diffusionfer_heldout(model: str, shared: Path) -> dict:
    data = load_affectnet_csv(shared / "data" / "diffusionfer" / "dataset_sheet.csv", "test", size=224)
    rec = Recognizer(model)
    probs, va = rec.predict_arrays(data.images)
    labelled = data.labels >= 0
    acc = float((probs.argmax(1)[labelled] == data.labels[labelled]).mean())
    uar = classification_report(data.labels[labelled], probs.argmax(1)[labelled], len(EXPRESSIONS))["uar"]
    return {
        "expression_uar": uar,
        "n": len(data),
        "valence_ccc": ccc(va[:, 0], data.va[:, 0]),
        "arousal_ccc": ccc(va[:, 1], data.va[:, 1]),
        "valence_rmse": float(np.sqrt(np.mean((va[:, 0] - data.va[:, 0]) ** 2))),
        "arousal_rmse": float(np.sqrt(np.mean((va[:, 1] - data.va[:, 1]) ** 2))),
        "expression_accuracy": acc,
    }


def speed(model: str, shared: Path, repeats: int = 2) -> dict:
    clip = shared / "media" / "WolfgangLanger_Pexels.mp4"
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        df = analyze(clip, model=model)
        wall = time.perf_counter() - t
        frames = df.attrs["frames"]
        runs.append({
            "frames": frames,
            "wall_s": wall,
            "fps": frames / wall,
            "timings_s": df.attrs["timings_s"],
            "frames_with_face": int(df.loc[df["face"].notna(), "frame"].nunique()),
        })
    best = max(runs, key=lambda r: r["fps"])
    return {"clip": clip.name, "runs": runs, "best": best}


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.2f} %"


def render(results: dict, command: str) -> str:
    fer, va, sp, fp = results["fer2013"], results["diffusionfer"], results["speed"], results["ferplus"]
    lines = [
        "# Benchmarks",
        "",
        "Every figure here is written by one command, which anyone can re-run on a machine that has the",
        "shared data folder (`$AFFECTKIT_SHARED`, default `../shared`):",
        "",
        f"    {command}",
        "",
        f"Run on {results['date']} on `{results['machine']}` ({results['cpus']} CPU cores, no GPU), "
        f"torch {results['torch']}, model `{results['model']}`, test-time mirror averaging on.",
        "",
        "## FER-2013 PrivateTest (expression)",
        "",
        "Through `analyze(..., faces_cropped=True)`, the path of `affectkit analyze DIR --faces-cropped`.",
        "FER-2013 holds byte-identical images across splits; the second row drops the test images whose",
        "bytes also occur in the train split.",
        "",
        "| test set | images | accuracy | UAR | " + " | ".join(EXPRESSIONS) + " |",
        "|---|---|---|---|" + "---|" * len(EXPRESSIONS),
    ]
    for name, key in (("PrivateTest, all", "all"), ("PrivateTest, train duplicates removed", "without_train_duplicates")):
        r = fer[key]
        lines.append(
            f"| {name} | {r['n']} | {_pct(r['accuracy'])} | {_pct(r['uar'])} | "
            + " | ".join(f"{100 * x:.1f}" for x in r["recall"]) + " |"
        )
    lines += [
        "",
        "Per-class columns are recall (%). Confusion matrix (rows true, columns predicted, order "
        + ", ".join(EXPRESSIONS) + "):",
        "",
        "```",
        *[" ".join(f"{v:5d}" for v in row) for row in fer["all"]["confusion"]],
        "```",
        "",
        f"Scoring the {fer['all']['n']} images took {fer['seconds']:.1f} s.",
        "",
        "## DiffusionFER held-out split (valence and arousal)",
        "",
        "Images whose relative path has `int(md5(path), 16) % 5 == 0`; never trained on. The faces are",
        "synthetic (Stable Diffusion), so these figures are not comparable to AffectNet's.",
        "",
        "| images | valence CCC | arousal CCC | valence RMSE | arousal RMSE | expression accuracy | expression UAR |",
        "|---|---|---|---|---|---|---|",
        f"| {va['n']} | {va['valence_ccc']:.3f} | {va['arousal_ccc']:.3f} | {va['valence_rmse']:.3f} | "
        f"{va['arousal_rmse']:.3f} | {_pct(va['expression_accuracy'])} | {_pct(va['expression_uar'])} |",
        "",
        "## FER+ PrivateTest (majority labels)",
        "",
        "FER-2013's PrivateTest faces scored against the FER+ crowd majority (Barsoum et al. 2016), on the",
        f"{fp['n']} faces whose majority is one of the seven classes shared with FER-2013 (contempt, unknown",
        "and not-a-face majorities left out).",
        "",
        "| faces | accuracy | UAR | " + " | ".join(EXPRESSIONS) + " |",
        "|---|---|---|" + "---|" * len(EXPRESSIONS),
        f"| {fp['n']} | {_pct(fp['accuracy'])} | {_pct(fp['uar'])} | " + " | ".join(f"{100 * x:.1f}" for x in fp["recall"]) + " |",
        "",
        "## Posed photos",
        "",
        "The posed expressions in `shared/media` (coded in the file name), through `analyze` with MTCNN detection:",
        "",
        "| file | posed | predicted | probability |",
        "|---|---|---|---|",
        *[f"| {r['file']} | {r['posed']} | {r['predicted']} | {r['probability']:.2f} |" if r["predicted"] else
          f"| {r['file']} | {r['posed']} | no face | |" for r in results["posed"]],
        "",
        "## Model cost",
        "",
        f"{results['mflops']:.0f} MFLOPs per face per forward pass (torch FlopCounterMode, a multiply-add counts as 2;",
        "mirror averaging doubles it), "
        f"{results['weights_mb']:.1f} MB of weights.",
        "",
        "## End-to-end speed",
        "",
        f"`analyze` on `{sp['clip']}` (640x360, 472 frames) with its defaults, in this process: MTCNN",
        "detection every 0.1 s of video with faces followed in between, Ng et al. 2015 alignment, the",
        "model with mirror averaging, tracking on; ONNX Runtime, one thread per core. Wall time includes",
        "loading the model and detector. Each run is listed; the split is the time spent inside each stage",
        "(detect includes following). Whole-process figures against the peer: the real-time section below.",
        "",
        "| run | frames | with a face | wall (s) | frames/s | decode (s) | detect (s) | align (s) | model (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(sp["runs"], 1):
        t = r["timings_s"]
        lines.append(
            f"| {i} | {r['frames']} | {r['frames_with_face']} | {r['wall_s']:.1f} | {r['fps']:.1f} | "
            f"{t['decode']:.1f} | {t['detect']:.1f} | {t['align']:.2f} | {t['model']:.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--no-card", action="store_true", help="do not write metrics into the bundled model card")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--card-only", action="store_true",
                    help="only copy the figures of the last run (the .json beside --out) into the bundled card")
    args = ap.parse_args()
    if args.card_only:
        results = json.loads(Path(args.out).with_suffix(".json").read_text())
        _write_card(args.model, results, results.get("command", "python benchmarks/run_benchmarks.py"))
        return 0
    shared = shared_dir()
    if not (shared / "data").is_dir():
        print(f"error: shared data folder {shared} not found (set AFFECTKIT_SHARED)", file=sys.stderr)
        return 2
    command = "python benchmarks/run_benchmarks.py" + (f" --model {args.model}" if args.model != "default" else "")
    results = {
        "date": dt.date.today().isoformat(),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "model": args.model,
        "fer2013": fer2013_private_test(args.model, shared),
        "diffusionfer": diffusionfer_heldout(args.model, shared),
        "ferplus": ferplus_private_test(args.model, shared),
        "posed": posed_photos(args.model, shared),
        "mflops": mflops(args.model),
        "weights_mb": (bundled_path(args.model) if args.model in BUNDLED else Path(args.model)).stat().st_size / 1e6,
        "speed": speed(args.model, shared),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    page = render(results, command)
    old = out.read_text() if out.exists() else ""
    # The sections other scripts write (batch_scaling.py, serve_live.py, realtime.py) follow this
    # script's part, from the first of their markers on; they are kept as they are.
    begin = "<!-- batch:begin -->"
    if begin in old:
        page = page.rstrip("\n") + "\n\n" + old[old.index(begin):].rstrip("\n") + "\n"
    tmp.write_text(page)
    tmp.replace(out)
    write_json_atomic(out.with_suffix(".json"), {**results, "command": command})
    if args.model in BUNDLED and not args.no_card:
        _write_card(args.model, results, command)
    print(render(results, command))
    return 0


def _write_card(model: str, results: dict, command: str) -> None:
    """Copy the headline figures into the bundled model's card."""
    if model in BUNDLED:
        weights = bundled_path(model)
        card = read_card(weights)
        fer = results["fer2013"]
        card["metrics"] = {
            "command": command,
            "date": results["date"],
            "fer2013_private_test_accuracy": fer["all"]["accuracy"],
            "fer2013_private_test_uar": fer["all"]["uar"],
            "fer2013_private_test_recall": dict(zip(EXPRESSIONS, fer["all"]["recall"])),
            "fer2013_private_test_accuracy_without_train_duplicates": fer["without_train_duplicates"]["accuracy"],
            "diffusionfer_heldout_valence_ccc": results["diffusionfer"]["valence_ccc"],
            "diffusionfer_heldout_arousal_ccc": results["diffusionfer"]["arousal_ccc"],
            "diffusionfer_heldout_expression_uar": results["diffusionfer"]["expression_uar"],
            "ferplus_private_test_accuracy": results["ferplus"]["accuracy"],
            "ferplus_private_test_uar": results["ferplus"]["uar"],
            "mflops_per_face": results["mflops"],
            "end_to_end_fps_2_cores": results["speed"]["best"]["fps"],
            "tta": "mirror averaging",
        }
        write_json_atomic(card_path(weights), card)


if __name__ == "__main__":
    sys.exit(main())
