"""Reproduce the seed papers' transfer-learning comparisons and write docs/results.md.

Every row is one ``affectkit train`` command over three seeds; the command, run from
the repository root, reproduces the row. Finished experiments (``report.json`` in
their folder) are not re-run, so the script can be stopped and started again.

    python benchmarks/run_results.py            # run what is missing, then write the doc
    python benchmarks/run_results.py --doc-only # only rewrite docs/results.md

Data: ``$AFFECTKIT_SHARED`` (default ``../shared``), see ``../shared/README.md``.
CPU only: the budgets (training-set caps, epochs) are sized for a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "results"
DOC = ROOT / "docs" / "results.md"
SHARED = os.environ.get("AFFECTKIT_SHARED", "../shared")
FER = f"fer2013:{SHARED}/data/fer2013"
DFER = f"affectnet_csv:{SHARED}/data/diffusionfer/dataset_sheet.csv"
SEEDS = "0,1,2"

# Frozen features on FER-2013 (Jin et al. 2019): 5,000 training faces per seed, PrivateTest.
_JIN = f"--data {FER} --strategy features --head logistic --input-size 96 --max-train 5000 --seeds {SEEDS}"
# Fine-tuning on DiffusionFER (train = non-held-out rows, test = the md5-mod-5 held-out split).
_DFER = (f"--data {DFER} --train-split train --val-split none --test-split test --epochs 4 --batch-size 32 "
         f"--network-size 64 --lr 1e-3 --seeds {SEEDS}")
# The FER-2013 stage of a cascade: one epoch capped at 300 steps of 32 faces.
_STAGE = "--pretrain-epochs 1 --pretrain-steps 300"

EXPERIMENTS = [
    # group, name, what, arguments
    ("jin", "jin_mnv2_penultimate", "MobileNetV2, pooled penultimate (1280-d)", f"{_JIN} --backbone mobilenet_v2 --tap penultimate"),
    ("jin", "jin_mnv2_logits", "MobileNetV2, ImageNet output (1000-d)", f"{_JIN} --backbone mobilenet_v2 --tap logits"),
    ("jin", "jin_mnv2_pyramid", "MobileNetV2, pyramid of 3 stages (1408-d)", f"{_JIN} --backbone mobilenet_v2 --tap pyramid"),
    ("jin", "jin_lite0_penultimate", "EfficientNet-Lite0, pooled penultimate (1280-d)", f"{_JIN} --backbone efficientnet_lite0 --tap penultimate"),
    ("jin", "jin_lite0_logits", "EfficientNet-Lite0, ImageNet output (1000-d)", f"{_JIN} --backbone efficientnet_lite0 --tap logits"),
    ("jin", "jin_lite0_pyramid", "EfficientNet-Lite0, pyramid of 3 stages (1432-d)", f"{_JIN} --backbone efficientnet_lite0 --tap pyramid"),
    ("jin", "jin_mnv2_random", "MobileNetV2 with random weights, penultimate (control)", f"{_JIN} --backbone mobilenet_v2 --tap penultimate --random-init"),
    ("cross", "cross_fer_to_dfer", "MobileNetV2 penultimate + logistic, trained on FER-2013, tested on DiffusionFER held-out",
     f"{_JIN} --backbone mobilenet_v2 --tap penultimate --test-data {DFER} --test-split test"),
    ("finetune", "ft_full", "ImageNet -> DiffusionFER, full fine-tuning, classes", f"{_DFER} --strategy full --task classes"),
    ("finetune", "ft_staged", "ImageNet -> DiffusionFER, staged (1 head epoch, then all layers at lr/10)", f"{_DFER} --strategy staged --head-epochs 1 --task classes"),
    ("finetune", "ft_frozen", "ImageNet -> DiffusionFER, frozen backbone (heads only)", f"{_DFER} --strategy frozen --task classes"),
    ("task", "task_va", "ImageNet -> DiffusionFER, full, valence/arousal only", f"{_DFER} --strategy full --task va"),
    ("task", "task_multitask", "ImageNet -> DiffusionFER, full, classes + valence/arousal", f"{_DFER} --strategy full --task multitask"),
    ("cascade", "cascade_fer28", "ImageNet -> FER28 -> DiffusionFER", f"{_DFER} --strategy full --task classes --pretrain {FER}@train {_STAGE}"),
    ("cascade", "cascade_fer32", "ImageNet -> FER32 -> DiffusionFER", f"{_DFER} --strategy full --task classes --pretrain {FER}@train+validation {_STAGE}"),
]

GROUPS = {
    "jin": ("Frozen ImageNet features: backbones and layers (Jin et al. 2019)",
            "A frozen backbone's tap feeds a logistic-regression head. Train: 5,000 FER-2013 training faces drawn "
            "per seed; test: FER-2013 PrivateTest (3,589 faces); faces upscaled from 48 to 96 px. Logistic "
            "regression is deterministic, so the spread over seeds comes from the training subset only; the "
            "random-weights control is one network, drawn from torch's generator seeded with 0. "
            "Jin et al. compare VGG's 1000-d output with its 4096-d fc6; VGG, AlexNet and the ResNets have no "
            "ImageNet weights on this offline machine, so the comparison runs on the two backbones that do "
            "(put their weights in $AFFECTKIT_WEIGHTS_DIR to add them)."),
    "cross": ("Cross-dataset", "Trained on one dataset, tested on another: FER-2013 (real, grey, 48 px) to DiffusionFER "
              "(synthetic faces). Expression classes only."),
    "finetune": ("Fine-tuning strategies (Vielzeuf et al. 2018)",
                 "MobileNetV2 from ImageNet, fine-tuned for 4 epochs (AdamW, cosine, batch 32, 64 px) on DiffusionFER's "
                 "non-held-out faces, tested on its held-out split with mirror TTA. Staged: the heads train alone "
                 "for 1 epoch, then every layer at a tenth of the learning rate. Short CPU budgets: these compare "
                 "strategies at equal cost, they are not converged accuracies."),
    "task": ("Classes only against multi-task", "Same recipe as full fine-tuning above; the task changes. CCC on the "
             "held-out faces' valence and arousal."),
    "cascade": ("Cascaded fine-tuning (Ng et al. 2015)",
                "As full fine-tuning above, but first fine-tuned on FER-2013: FER28 is the training split (28,709 faces), "
                "FER32 adds PublicTest (32,298). The FER stage is one epoch capped at 300 steps of 32 faces "
                "(9,600 faces drawn from that pool) per seed, a CPU budget; Ng et al. train it to convergence, so "
                "FER28 and FER32 differ here only in the pool the 9,600 faces are drawn from."),
}


def run(name: str, args: str) -> None:
    out = OUT / name
    if (out / "report.json").exists():
        print(f"{name}: done already")
        return
    cmd = [sys.executable, "-m", "affectkit.cli", "train", "faces", *shlex.split(args), "--out", str(out.relative_to(ROOT)), "-q"]
    print(f"{name}: {' '.join(cmd[3:])}", flush=True)
    t0 = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    (out / "wall_s.txt").write_text(f"{time.time() - t0:.0f}\n")


def _pm(summary: dict, key: str, scale: float = 100.0) -> str:
    e = summary.get(key)
    if not e or e["mean"] is None:
        return "–"
    std = e["std"]
    std_txt = "" if std is None or (isinstance(std, float) and math.isnan(std)) else f" ± {std * scale:.2f}"
    return f"{e['mean'] * scale:.2f}{std_txt}"


def _ens(rep: dict, key: str, scale: float = 100.0) -> str:
    ens = rep.get("ensemble") or {}
    for part in key.split("/"):
        ens = ens.get(part, {}) if isinstance(ens, dict) else {}
    return f"{ens * scale:.2f}" if isinstance(ens, (int, float)) else "–"


def write_doc() -> None:
    lines = [
        "# Transfer-learning results",
        "",
        "Written by `python benchmarks/run_results.py` from the reports in `runs/results/`. Every row is "
        "mean ± std over 3 seeds (0, 1, 2) of one `affectkit train` command, run from the repository root with "
        "the data of `../shared`; *ens.* is the ensemble of the three seeds (mean of their probabilities). "
        "Accuracy, UAR (mean per-class recall) and macro-F1 in %; CCC as a fraction. All runs on a 2-core CPU.",
        "",
    ]
    for group, (title, text) in GROUPS.items():
        # Direct full fine-tuning (classes only) is the reference row of the task and cascade comparisons.
        rows = [e for e in EXPERIMENTS if e[0] == group or (group in ("task", "cascade") and e[1] == "ft_full")]
        lines += [f"## {title}", "", text, ""]
        regression = group == "task"
        head = ["setting", "accuracy", "UAR", "macro-F1", "ens. accuracy"]
        if regression:
            head = ["setting", "accuracy", "UAR", "valence CCC", "arousal CCC", "ens. valence CCC", "ens. arousal CCC"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for _, name, what, _ in rows:
            path = OUT / name / "report.json"
            if not path.exists():
                lines.append(f"| {what} | not run |" + " |" * (len(head) - 2))
                continue
            rep = json.loads(path.read_text())
            s = rep["summary"]
            if regression:
                cells = [_pm(s, "accuracy"), _pm(s, "uar"), _pm(s, "valence/ccc", 1), _pm(s, "arousal/ccc", 1),
                         _ens(rep, "valence/ccc", 1), _ens(rep, "arousal/ccc", 1)]
            else:
                cells = [_pm(s, "accuracy"), _pm(s, "uar"), _pm(s, "macro_f1"), _ens(rep, "accuracy")]
            lines.append(f"| {what} | " + " | ".join(cells) + " |")
        lines += ["", "Commands:", "", "```"]
        for _, name, _, args in rows:
            lines.append(f"affectkit train faces {args} --out runs/results/{name}")
        lines += ["```", ""]
    lines += _targets()
    text = "\n".join(lines)
    # benchmarks/levers.py writes its own section; keep it.
    old = DOC.read_text() if DOC.exists() else ""
    if "<!-- levers:begin -->" in old:
        text = text.rstrip("\n") + "\n\n" + old[old.index("<!-- levers:begin -->"):]
    DOC.parent.mkdir(exist_ok=True)
    tmp = DOC.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(DOC)
    print(f"wrote {DOC}")


def _targets() -> list[str]:
    """The shipped model against issue #15's targets, from docs/benchmarks.json."""
    bench = ROOT / "docs" / "benchmarks.json"
    if not bench.exists():
        return []
    b = json.loads(bench.read_text())
    fer, dfer, plus = b["fer2013"], b["diffusionfer"], b.get("ferplus")
    names = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    worst = min(range(7), key=lambda i: fer["all"]["recall"][i])
    rows = [
        ("FER-2013 PrivateTest accuracy", "≥ 73.5 %", f"{fer['all']['accuracy'] * 100:.2f} %"),
        ("FER-2013 PrivateTest UAR", "≥ 70 %", f"{fer['all']['uar'] * 100:.2f} %"),
        ("FER-2013 PrivateTest lowest class recall", "≥ 55 %",
         f"{fer['all']['recall'][worst] * 100:.1f} % ({names[worst]})"),
        ("… accuracy without the test faces duplicated in train", "reported",
         f"{fer['without_train_duplicates']['accuracy'] * 100:.2f} %"),
    ]
    if plus:
        rows.append(("FER+ PrivateTest accuracy (majority, seven shared classes)", "≥ 86 %", f"{plus['accuracy'] * 100:.2f} %"))
    if "expression_uar" in dfer:
        rows.append(("DiffusionFER held-out expression UAR", "≥ 70 %", f"{dfer['expression_uar'] * 100:.2f} %"))
    rows += [
        ("DiffusionFER held-out valence CCC", "≥ 0.85", f"{dfer['valence_ccc']:.3f}"),
        ("DiffusionFER held-out arousal CCC", "≥ 0.85", f"{dfer['arousal_ccc']:.3f}"),
    ]
    return [
        TARGETS_HEAD,
        "",
        "From `docs/benchmarks.json` (written by `python benchmarks/run_benchmarks.py`; mirror TTA, through "
        "`analyze --faces-cropped`), for the model that ships (made by `" + _shipped_command() + "`). PrivateTest "
        "was read once for it, after it was chosen on PublicTest (levers and full-budget stages below).",
        "",
        "| measure | target | measured |",
        "|---|---|---|",
        *[f"| {a} | {t} | {m} |" for a, t, m in rows],
        "",
    ]


TARGETS_HEAD = "## The shipped default model against the targets"


def _shipped_command() -> str:
    """The training command recorded in the bundled default model's card."""
    card = json.loads((ROOT / "src" / "affectkit" / "weights" / "default.json").read_text())
    return card.get("training", {}).get("command", "unknown")


def _splice(doc: str, head: str, end_marker: str, lines: list[str]) -> str:
    """Replace the section starting at ``head`` up to ``end_marker`` (or the end) with ``lines``."""
    start = doc.index(head)
    end = doc.find(end_marker, start)
    end = len(doc) if end < 0 else end
    return doc[:start] + "\n".join(lines) + "\n" + doc[end:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc-only", action="store_true")
    ap.add_argument("--targets-only", action="store_true",
                    help="only rewrite the targets section from docs/benchmarks.json (the other sections need runs/results)")
    ap.add_argument("--only", nargs="*", help="Run only these experiment names.")
    a = ap.parse_args()
    if a.targets_only:
        from affectkit.io.write import atomic_path

        text = _splice(DOC.read_text(), TARGETS_HEAD, "<!-- levers:begin -->", _targets())
        with atomic_path(DOC) as tmp:
            tmp.write_text(text)
        print(f"wrote {DOC}")
        return
    if not a.doc_only:
        for _, name, _, args in EXPERIMENTS:
            if not a.only or name in a.only:
                run(name, args)
    write_doc()


if __name__ == "__main__":
    main()
