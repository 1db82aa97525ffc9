"""Accuracy of the shipped default model against the peer ``fer``, side by side in one run.

    .venv/bin/python benchmarks/peer_accuracy.py [--fer-python .peer-fer-venv/bin/python]

Both systems score the same faces in the same run, and the doc gives their difference
with a 95 % paired bootstrap interval (the same faces resampled for both):

* FER-2013 PrivateTest (3,589 face crops, ``shared/data/fer2013/test``): affectkit through
  ``analyze(..., faces_cropped=True)`` (``affectkit analyze DIR --faces-cropped``), fer
  through its model alone on the crop (``run_fer.py crops``, fer's own preprocessing).
  Scored against the original labels and against the FER+ majority (Barsoum et al. 2016)
  over the faces whose majority is one of the seven shared classes.
* The posed photos in ``shared/media`` (expression coded in the file name), each through
  the system's own detector (affectkit ``analyze``; fer ``run_fer.py faces``: OpenCV Haar).

The peer (MIT; mini-Xception trained on FER-2013) runs in its own venv:
``bash ../shared/peers/fer/setup.sh .peer-fer-venv``. Nothing here chooses a model:
the shipped one was chosen on PublicTest (docs/results.md) before this script reads
PrivateTest. Writes docs/peer_accuracy.md and docs/peer_accuracy.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from affectkit import analyze
from affectkit.data.ferplus import load_ferplus
from affectkit.evaluation.metrics import classification_report
from affectkit.expressions import EXPRESSIONS, FER2013_FOLDERS, class_index
from affectkit.io.write import atomic_path, write_json_atomic
from affectkit.paths import shared_dir

ROOT = Path(__file__).resolve().parents[1]
DOC, JSON = ROOT / "docs" / "peer_accuracy.md", ROOT / "docs" / "peer_accuracy.json"
POSED = {"su": "surprise", "ha": "happiness", "hao": "happiness", "an": "anger", "anc": "anger", "di": "disgust"}
BOOTSTRAP = 2000


def _run_fer(fer_python: str, mode: str, paths: list[Path]) -> pd.DataFrame:
    """The peer's seven probabilities per file (NaN where it found no face), keyed by absolute path."""
    script = shared_dir() / "peers" / "fer" / "run_fer.py"
    done = subprocess.run([fer_python, str(script), mode, *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{script}: the peer failed ({done.stderr.strip().splitlines()[-1:]})")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    table = pd.read_csv(result["csv"])
    Path(result["csv"]).unlink()
    table["source"] = [str(Path(s).resolve()) for s in table["source"]]
    return table.set_index("source")


def _paired_ci(correct_a: np.ndarray, correct_b: np.ndarray, seed: int = 0) -> list[float]:
    """95 % bootstrap interval of mean(correct_a) - mean(correct_b), faces resampled for both."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(correct_a), (BOOTSTRAP, len(correct_a)))
    diffs = correct_a[idx].mean(1) - correct_b[idx].mean(1)
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def _compare(y_true: np.ndarray, ours: np.ndarray, peer: np.ndarray) -> dict:
    """Both systems' reports on the same faces, and the paired accuracy difference."""
    rep_a = classification_report(y_true, ours, len(EXPRESSIONS))
    rep_b = classification_report(y_true, peer, len(EXPRESSIONS))
    return {"n": int(len(y_true)), "affectkit": rep_a, "fer": rep_b,
            "accuracy_difference_ci95": _paired_ci(ours == y_true, peer == y_true)}


def crops(fer_python: str, shared: Path) -> dict:
    root = shared / "data" / "fer2013"
    ours = analyze(root / "test", faces_cropped=True)
    ours["source"] = [str(Path(s).resolve()) for s in ours["source"]]
    ours = ours.set_index("source")
    peer = _run_fer(fer_python, "crops", [root / "test"])
    sources = ours.index.intersection(peer.index)
    if len(sources) != len(ours) or peer.loc[sources, list(EXPRESSIONS)].isna().any().any():
        sys.exit(f"{root / 'test'}: the two systems did not score the same {len(ours)} crops")
    ours_pred = np.array([class_index(e) for e in ours.loc[sources, "expression"]])
    peer_pred = peer.loc[sources, list(EXPRESSIONS)].to_numpy().argmax(1)
    folder_to_id = {f: class_index(c) for f, c in FER2013_FOLDERS.items()}
    fer_labels = np.array([folder_to_id[Path(s).parent.name] for s in sources])
    plus_set = load_ferplus(shared / "data" / "ferplus", "test")  # majority, -1 outside the seven classes
    majority = dict(zip((str((root / n).resolve()) for n in plus_set.names), plus_set.labels))
    plus = np.array([majority.get(s, -1) for s in sources])
    keep = plus >= 0
    return {"fer2013": _compare(fer_labels, ours_pred, peer_pred),
            "ferplus": _compare(plus[keep], ours_pred[keep], peer_pred[keep])}


def posed(fer_python: str, shared: Path) -> list[dict]:
    photos = sorted((shared / "media").glob("*-ph.jpg"))
    peer = _run_fer(fer_python, "faces", photos)
    rows = []
    for path in photos:
        df = analyze(path)
        found = df.dropna(subset=["face"])
        p = peer.loc[str(path.resolve()), list(EXPRESSIONS)]
        rows.append({"file": path.name, "posed": POSED.get(path.stem.split("-")[2], "?"),
                     "affectkit": found.iloc[0]["expression"] if len(found) else None,
                     "fer": None if p.isna().any() else EXPRESSIONS[int(p.to_numpy().argmax())]})
    return rows


def _lowest_recall(rep: dict) -> str:
    i = int(np.nanargmin(rep["recall"]))
    return f"{EXPRESSIONS[i]} {rep['recall'][i] * 100:.1f} %"


def write_doc(res: dict) -> None:
    lines = [
        "# Accuracy against the peer `fer`",
        "",
        f"Written by `python benchmarks/peer_accuracy.py` on {res['date']}: both systems on the same faces in one run. "
        "`fer` (MIT) is OpenCV's Haar detector with a mini-Xception trained on FER-2013, run from "
        "`../shared/peers/fer`. Differences are affectkit minus fer in accuracy points, with a 95 % paired "
        f"bootstrap interval ({BOOTSTRAP} resamples of the faces). PrivateTest was not used to choose anything.",
        "",
        "| test set | faces | affectkit accuracy % | fer accuracy % | difference, points (95 % CI) | "
        "affectkit / fer accuracy | affectkit UAR % | fer UAR % | lowest recall, affectkit | lowest recall, fer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    names = {"fer2013": "FER-2013 PrivateTest, original labels, crops",
             "ferplus": "FER-2013 PrivateTest, FER+ majority (seven shared classes), crops"}
    for key, name in names.items():
        r = res[key]
        a, b = r["affectkit"], r["fer"]
        lo, hi = r["accuracy_difference_ci95"]

        lines.append(f"| {name} | {r['n']} | {a['accuracy'] * 100:.2f} | {b['accuracy'] * 100:.2f} | "
                     f"{(a['accuracy'] - b['accuracy']) * 100:+.2f} ({lo * 100:+.2f} to {hi * 100:+.2f}) | "
                     f"{a['accuracy'] / b['accuracy']:.3f} | {a['uar'] * 100:.2f} | {b['uar'] * 100:.2f} | "
                     f"{_lowest_recall(a)} | {_lowest_recall(b)} |")
    lines += ["", "Per-class recall, %:", "",
              "| test set | system | " + " | ".join(EXPRESSIONS) + " |", "|---|---|" + "---|" * len(EXPRESSIONS)]
    for key, name in names.items():
        for system in ("affectkit", "fer"):
            rec = res[key][system]["recall"]  # a list in EXPRESSIONS order
            lines.append(f"| {name} | {system} | " + " | ".join(f"{v * 100:.1f}" for v in rec) + " |")
    lines += ["", "Posed photos in `shared/media`, each through the system's own detector:", "",
              "| file | posed | affectkit | fer |", "|---|---|---|---|"]
    lines += [f"| {p['file']} | {p['posed']} | {p['affectkit'] or 'no face'} | {p['fer'] or 'no face'} |"
              for p in res["posed"]]
    with atomic_path(DOC) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fer-python", default=str(ROOT / ".peer-fer-venv" / "bin" / "python"),
                    help="the peer's venv python (bash ../shared/peers/fer/setup.sh .peer-fer-venv)")
    args = ap.parse_args()
    if not Path(args.fer_python).exists():
        sys.exit(f"{args.fer_python}: no peer venv (bash ../shared/peers/fer/setup.sh .peer-fer-venv)")
    shared = shared_dir()
    res = {"date": dt.date.today().isoformat(), **crops(args.fer_python, shared), "posed": posed(args.fer_python, shared)}
    write_json_atomic(JSON, res)
    write_doc(res)
    print(f"wrote {DOC} and {JSON}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
