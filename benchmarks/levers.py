"""Measure the default-model levers one at a time, and write their table into docs/results.md.

Every lever is the baseline recipe with one thing changed, trained at the same short
budget over three seeds and scored on FER-2013 PublicTest (the ``validation`` split):
accuracy and UAR against the original labels, per-class recall, and accuracy against
the FER+ majority (Barsoum et al. 2016) over the seven shared classes. PrivateTest is
never read here: levers are chosen on PublicTest only.

    python benchmarks/levers.py              # train what is missing, then write the doc
    python benchmarks/levers.py --doc-only   # only rewrite the doc section

Budget (the same for every row): ImageNet MobileNetV2, ``--faces`` FER-2013 training faces
(a fixed random subset, the same for every row and seed), ``--epochs`` epochs, 64 px input
(80 px in the input-size row), AdamW at 1e-3 with warm-up and cosine decay, batch 64.
Finished runs (their ``result.json``) are not re-run, so the script can be stopped and
started again. Data: ``$AFFECTKIT_SHARED`` (default ``../shared``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "levers"
DOC = ROOT / "docs" / "results.md"
JSON = ROOT / "docs" / "levers.json"
SHARED = Path(os.environ.get("AFFECTKIT_SHARED", ROOT.parent / "shared"))
SEEDS = (0, 1, 2)
BEGIN, END = "<!-- levers:begin -->", "<!-- levers:end -->"

BASE = dict(backbone="mobilenet_v2", network_size=64, batch_size=64, lr=1e-3, optimizer="adamw",
            label_smoothing=0.1, task="classes", warmup_epochs=0.5)

# name, what it changes, FinetuneConfig overrides, data variant, test-time augmentation
LEVERS = [
    ("baseline", "FER-2013 labels, label smoothing 0.1, flip TTA", {}, "fer", "flip"),
    ("no_smoothing", "label smoothing 0", {"label_smoothing": 0.0}, "fer", "flip"),
    ("balanced_loss", "class-balanced loss (Cui et al. 2019)", {"class_balance": "loss"}, "fer", "flip"),
    ("logit_adjust", "logit adjustment (Menon et al. 2021)", {"class_balance": "logit_adjust"}, "fer", "flip"),
    ("balanced_sampler", "class-balanced sampling", {"class_balance": "sampler"}, "fer", "flip"),
    ("ferplus_soft", "FER+ vote distributions as soft targets (Barsoum et al. 2016)", {"soft_targets": True}, "fer", "flip"),
    ("cutmix", "CutMix, alpha 1 (Yun et al. 2019)", {"cutmix": 1.0}, "fer", "flip"),
    ("mixup", "mixup, alpha 0.2 (Zhang et al. 2018)", {"mixup": 0.2}, "fer", "flip"),
    ("ema", "weight EMA, decay 0.99", {"ema": 0.99}, "fer", "flip"),
    ("diffusionfer", "DiffusionFER mixed in, 8 per batch (multitask)", {"task": "multitask"}, "fer+dfer", "flip"),
    ("size80", "input 80 px", {"network_size": 80}, "fer", "flip"),
    ("lite0", "EfficientNet-Lite0 backbone", {"backbone": "efficientnet_lite0"}, "fer", "flip"),
    ("tta_none", "no test-time augmentation (baseline models)", None, "fer", "none"),
    ("tta_multi", "10-view TTA (baseline models)", None, "fer", "multi"),
]


def _data(n_faces: int):
    """FER-2013 train subset with FER+ distributions; PublicTest with both label sets."""
    from affectkit.data.faceset import FaceSet
    from affectkit.data.registry import load_dataset

    plus_train = load_dataset(f"ferplus:{SHARED}/data/ferplus", "train")
    # Train on the original FER-2013 labels; the FER+ votes ride along as `soft`.
    fer_labels = np.asarray(plus_train.meta["fer2013_labels"], np.int64)
    train = FaceSet(plus_train.images, fer_labels, plus_train.va, plus_train.subjects, plus_train.names,
                    {"dataset": "FER-2013 train with FER+ votes"}, plus_train.soft)
    keep = np.sort(np.random.default_rng(0).choice(len(train), n_faces, replace=False))
    train = train.subset(keep)
    train.meta = {"dataset": "FER-2013 train with FER+ votes", "subset": f"{n_faces} faces, seed 0"}
    plus_val = load_dataset(f"ferplus:{SHARED}/data/ferplus", "validation")
    val = FaceSet(plus_val.images, np.asarray(plus_val.meta["fer2013_labels"], np.int64), plus_val.va,
                  plus_val.subjects, plus_val.names, {"dataset": "FER-2013 PublicTest"})
    dfer = load_dataset(f"affectnet_csv:{SHARED}/data/diffusionfer/dataset_sheet.csv", "train")
    return train, val, plus_val.labels, dfer


def _score(model: Path, val, plus_labels: np.ndarray, tta: str) -> dict:
    from affectkit.evaluation.metrics import classification_report
    from affectkit.expressions import EXPRESSIONS
    from affectkit.models.recognizer import Recognizer

    proba, _ = Recognizer(model, tta=tta).predict_arrays(val.images)
    pred = proba.argmax(1)
    rep = classification_report(val.labels, pred, 7, class_names=list(EXPRESSIONS))
    shared = plus_labels >= 0
    return {"accuracy": rep["accuracy"], "uar": rep["uar"],
            "recall": {e: float(r) for e, r in zip(EXPRESSIONS, rep["recall"])},
            "ferplus_accuracy": float((pred[shared] == plus_labels[shared]).mean())}


def run(args) -> None:
    import torch

    from affectkit.data.faceset import FaceSet
    from affectkit.training.finetune import FinetuneConfig, finetune

    torch.set_num_threads(args.threads)
    train, val, plus_labels, dfer = _data(args.faces)
    for name, what, over, data, tta in LEVERS:
        for seed in SEEDS:
            folder = OUT / name / f"seed_{seed}"
            if (folder / "result.json").exists():
                continue
            model_name = "baseline" if over is None else name
            model = OUT / model_name / f"seed_{seed}" / "model.safetensors"
            t = time.time()
            if over is not None:
                cfg = FinetuneConfig(**{**BASE, **over, "epochs": args.epochs, "seed": seed})
                tr = train
                if data == "fer+dfer":
                    tr = FaceSet.concat([train, dfer])
                    cfg.mix_batch = [cfg.batch_size, 8]
                model = finetune(tr, folder, cfg, val=None, resume=True, recipe={"lever": name})
            res = {"lever": name, "seed": seed, "tta": tta, "train_s": round(time.time() - t, 1),
                   **_score(model, val, plus_labels, tta)}
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").write_text(json.dumps(res, indent=1))
            print(f"{name} seed {seed}: acc {res['accuracy']:.4f} uar {res['uar']:.4f} "
                  f"fer+ {res['ferplus_accuracy']:.4f} ({res['train_s']} s)", flush=True)


def _ms(values) -> str:
    v = np.asarray(values, float) * 100
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}"


def write_doc(args) -> None:
    from affectkit.io.write import atomic_path

    rows, table = [], {}
    for name, what, over, data, tta in LEVERS:
        res = [json.loads(p.read_text()) for p in sorted((OUT / name).glob("seed_*/result.json"))]
        if not res:
            continue
        table[name] = res
        base = table.get("baseline")
        d_uar = ""
        if base and name != "baseline" and len(res) == len(base):
            diff = np.array([r["uar"] for r in res]) - np.array([b["uar"] for b in base])
            d_uar = f"{diff.mean() * 100:+.2f}"
        rows.append(f"| {name} | {what} | {len(res)} | {_ms([r['accuracy'] for r in res])} | "
                    f"{_ms([r['uar'] for r in res])} | {d_uar} | {_ms([r['recall']['disgust'] for r in res])} | "
                    f"{_ms([r['recall']['fear'] for r in res])} | {_ms([r['recall']['sadness'] for r in res])} | "
                    f"{_ms([r['ferplus_accuracy'] for r in res])} |")
    section = "\n".join([
        BEGIN,
        "## Default-model levers, one at a time (FER-2013 PublicTest)",
        "",
        f"Written by `python benchmarks/levers.py` (budget: {args.faces} FER-2013 training faces, a fixed random "
        f"subset; {args.epochs} epochs; ImageNet MobileNetV2 at 64 px, batch 64, AdamW 1e-3 with warm-up and "
        "cosine; seeds 0, 1, 2). Each row changes one thing from the baseline. Scored on PublicTest only "
        "(PrivateTest is not read): accuracy, UAR and per-class recall against the original FER-2013 labels, "
        "and accuracy against the FER+ majority over the seven shared classes. Mean ± std over seeds; "
        "ΔUAR is the mean per-seed difference from the baseline, in points.",
        "",
        "| lever | change | seeds | accuracy % | UAR % | ΔUAR | disgust recall % | fear recall % | "
        "sadness recall % | FER+ accuracy % |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "A short budget favours levers that speed up learning and can hide ones that pay off only over long "
        "schedules (EMA, mixup, CutMix); the chosen recipe is then trained at full budget (below).",
        END,
    ])
    doc = DOC.read_text() if DOC.exists() else "# Results\n"
    if BEGIN in doc:
        doc = doc[: doc.index(BEGIN)] + section + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + section + "\n"
    with atomic_path(DOC) as tmp:
        tmp.write_text(doc)
    with atomic_path(JSON) as tmp:
        tmp.write_text(json.dumps({"budget": {"faces": args.faces, "epochs": args.epochs, **BASE},
                                   "runs": table}, indent=1))
    print(f"wrote {DOC} and {JSON}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc-only", action="store_true")
    ap.add_argument("--faces", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not args.doc_only:
        run(args)
    write_doc(args)


if __name__ == "__main__":
    main()
