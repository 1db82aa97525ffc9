"""Temporal models on generated sequence rules that frame pooling cannot learn.

No labelled emotion video corpus is available here (one AFEW-VA clip, whose ratings
are constant), so this benchmark shows what each temporal model can and cannot learn
on two generated rules, through the same command line a user runs on AFEW or SEND:

* **order** (clip classification): noise sequences with one "A" frame and one "B"
  frame; the class is which comes first. Both classes hold the same bag of frames, so
  any order-blind model sits at chance (50 %).
* **accumulate** (per-step regression): valence is the running sum of one feature,
  arousal a per-frame function of another. Per-frame models can follow arousal but
  not valence.
* **motion** (C3D on crops): a bright bar moving left or right over 16 frames.

Writes ``docs/temporal.md`` and ``docs/temporal.json``::

    python benchmarks/temporal_synthetic.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_temporal_pipeline import _accumulate_csv, _motion_csv, _order_csv  # noqa: E402  (the tests' generators)

RUNS = [
    ("order", "mean", "classes", "precomputed"),
    ("order", "selection", "classes", "precomputed"),
    ("order", "lstm", "classes", "precomputed"),
    ("order", "gru", "classes", "precomputed"),
    ("order", "transformer_lstm", "classes", "precomputed"),
    ("accumulate", "mean", "va", "precomputed"),
    ("accumulate", "selection", "va", "precomputed"),
    ("accumulate", "lstm", "va", "precomputed"),
    ("accumulate", "gru", "va", "precomputed"),
    ("accumulate", "transformer_lstm", "va", "precomputed"),
    ("motion", "c3d", "classes", "crops"),
]
OPTIONS = ["--epochs", "20", "--hidden", "16", "--batch-size", "16", "--lr", "0.005"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="temporal-bench-"))
    data = {"order": _order_csv(work / "order", n=288, n_test=96),
            "accumulate": _accumulate_csv(work / "accumulate", n=240, n_test=80),
            "motion": _motion_csv(work / "motion", n=192, n_test=64)}
    seeds = ",".join(map(str, args.seeds))
    rows, commands = [], []
    for rule, model, task, embedding in RUNS:
        out = work / f"{rule}-{model}"
        cmd = ["affectkit", "train", "temporal", "--model", model, "--task", task, "--data", f"seqcsv:{data[rule]}",
               "--embedding", embedding, "--seeds", seeds, "--out", str(out), "-q", *OPTIONS]
        if model == "c3d":
            cmd[cmd.index("--hidden") + 1] = "64"
        t = time.time()
        subprocess.run([str(Path(sys.executable).parent / "affectkit"), *cmd[1:]], check=True)
        rep = json.loads((out / "report.json").read_text())
        s = rep["summary"]
        row = {"rule": rule, "model": model, "task": task, "seconds": round(time.time() - t, 1)}
        if task == "classes":
            row.update(accuracy_mean=s["accuracy"]["mean"], accuracy_std=s["accuracy"]["std"],
                       ensemble_accuracy=rep["pooled"]["accuracy"])
        else:
            for d in ("valence", "arousal"):
                row[f"{d}_ccc_mean"] = s[f"{d}/sequence_ccc"]["mean"]
                row[f"{d}_ccc_std"] = s[f"{d}/sequence_ccc"]["std"]
        rows.append(row)
        commands.append(" ".join(cmd).replace(str(work), "$WORK"))
        print(row, flush=True)
    df = pd.DataFrame(rows)
    (args.out / "temporal.json").write_text(json.dumps({"date": str(date.today()), "seeds": args.seeds, "runs": rows},
                                                       indent=2) + "\n")
    (args.out / "temporal.md").write_text(_markdown(df, args.seeds, commands))
    print(f"wrote {args.out / 'temporal.md'}")


def _pm(mean: float, std: float, scale: float = 1.0, digits: int = 3) -> str:
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}" if np.isfinite(std) else f"{mean * scale:.{digits}f}"


def _markdown(df: pd.DataFrame, seeds: list[int], commands: list[str]) -> str:
    import torch

    cls = df[df.task == "classes"]
    va = df[df.task == "va"]
    lines = [
        "# Temporal models on generated sequence rules",
        "",
        "Written by `python benchmarks/temporal_synthetic.py` on "
        f"{date.today()} ({platform.machine()}, {platform.python_version()}, torch {torch.__version__}, CPU), "
        f"{len(seeds)} training seeds ({', '.join(map(str, seeds))}), mean ± std over seeds.",
        "",
        "**These are generated sequences, not emotion data.** No labelled emotion video corpus is available "
        "to this project's machines (the one AFEW-VA clip has constant ratings). The rules below show which "
        "models use the order of frames; they say nothing about accuracy on AFEW, AFEW-VA or SEND. For those, "
        "run the same commands with `--data afew:ROOT`, `afew_va_clips:ROOT` or `send:ROOT` and your copy of the corpus.",
        "",
        "Each run is one `affectkit train temporal --model MODEL` command on a sequence CSV of `.npy` arrays "
        "(`--embedding precomputed`; C3D: `--embedding crops`), tested on held-out sequences. The generators "
        "are in `tests/test_temporal_pipeline.py`.",
        "",
        "## Clip classification",
        "",
        "*order*: which of two marked frames comes first (chance 50 %); *motion*: direction of a moving bar "
        "in 16 frames of 16x16 crops (C3D).",
        "",
        "| rule | model | accuracy (%) | seed-ensemble accuracy (%) | wall s (all seeds, with start-up) |",
        "|---|---|---|---|---|",
    ]
    for r in cls.itertuples():
        lines.append(f"| {r.rule} | {r.model} | {_pm(r.accuracy_mean, r.accuracy_std, 100, 1)} | "
                     f"{r.ensemble_accuracy * 100:.1f} | {r.seconds} |")
    lines += [
        "",
        "## Per-step valence and arousal",
        "",
        "*accumulate*: valence is the running sum of one input feature (it needs memory); arousal is a "
        "function of the current frame. CCC is computed per sequence and averaged over the test sequences.",
        "",
        "| model | valence CCC | arousal CCC | wall s (all seeds, with start-up) |",
        "|---|---|---|---|",
    ]
    for r in va.itertuples():
        lines.append(f"| {r.model} | {_pm(r.valence_ccc_mean, r.valence_ccc_std)} | "
                     f"{_pm(r.arousal_ccc_mean, r.arousal_ccc_std)} | {r.seconds} |")
    lines += ["", "## Commands", "", "`$WORK` is a temporary folder holding the generated data.", "", "```"]
    lines += commands + ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
