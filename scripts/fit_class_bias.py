"""Fit post-hoc class biases on FER-2013 PublicTest and write the model with them in its head.

    .venv/bin/python scripts/fit_class_bias.py runs/default_stage4/seed_0/model/model.safetensors \\
        --out runs/default_stage4_bias/seed_0/model/model.safetensors

The biases (:func:`affectkit.evaluation.class_bias.fit_class_bias`) maximise PublicTest
UAR with accuracy at most one point lower, on mirror-TTA probabilities, and are added to
the expression head's bias, so the model runs unchanged everywhere (torch and ONNX).
PublicTest is validation data here; PrivateTest is not read. Because the shipped biases
are fitted on all of PublicTest, the model's own PublicTest scores are optimistic: the
card also records a 2-fold cross-fitted estimate (each half predicted with biases fitted
on the other half), which is what ``benchmarks/levers.py`` uses to choose the model,
with a paired bootstrap (2,000 resamples of the PublicTest faces) of its gain over the
model without biases. ``--objective min_recall`` raises the weakest class instead of
UAR. The PublicTest probabilities are kept beside the output (``publictest_probs.npz``)
and reused by a re-run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from affectkit.data.registry import load_dataset
from affectkit.evaluation.class_bias import OBJECTIVES, cross_fitted_predictions, fit_class_bias
from affectkit.evaluation.metrics import classification_report
from affectkit.expressions import EXPRESSIONS
from affectkit.models.card import export_model, load_model
from affectkit.models.recognizer import Recognizer

SHARED = os.environ.get("AFFECTKIT_SHARED", "../shared")
MAX_DROP = 0.01


def _report(labels: np.ndarray, pred: np.ndarray) -> dict:
    rep = classification_report(labels, pred, 7, class_names=list(EXPRESSIONS))
    return {"accuracy": round(float(rep["accuracy"]), 4), "uar": round(float(rep["uar"]), 4),
            "recall": {e: round(float(r), 4) for e, r in zip(EXPRESSIONS, rep["recall"])}}


def _bootstrap(labels: np.ndarray, new: np.ndarray, old: np.ndarray, n: int = 2000) -> dict:
    """Paired bootstrap over faces: 95 % intervals of the change in UAR and accuracy (new - old)."""
    rng = np.random.default_rng(0)
    duar, dacc = [], []
    for _ in range(n):
        i = rng.integers(0, len(labels), len(labels))
        r_new, r_old = _report(labels[i], new[i]), _report(labels[i], old[i])
        duar.append(r_new["uar"] - r_old["uar"])
        dacc.append(r_new["accuracy"] - r_old["accuracy"])
    return {"uar_gain_ci95": [round(float(v), 4) for v in np.percentile(duar, [2.5, 97.5])],
            "accuracy_change_ci95": [round(float(v), 4) for v in np.percentile(dacc, [2.5, 97.5])],
            "resamples": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--objective", choices=OBJECTIVES, default="uar")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cached = a.out.parent / "publictest_probs.npz"
    if cached.exists():
        d = np.load(cached)
        probs, labels, folds = d["probs"], d["labels"], d["folds"]
    else:
        val = load_dataset(f"fer2013:{SHARED}/data/fer2013", "validation")
        probs = Recognizer(a.model, tta="flip").predict_arrays(val.images)[0]
        labels = np.asarray(val.labels)
        # Two folds by a hash of the file name: fixed, and independent of the labels.
        folds = np.array([int(hashlib.md5(str(n).encode()).hexdigest(), 16) % 2 for n in val.names])
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, probs=probs, labels=labels, folds=folds)
    fit = {"objective": a.objective, "max_accuracy_drop": MAX_DROP}
    before = _report(labels, probs.argmax(1))
    crossed_pred = cross_fitted_predictions(probs, labels, folds, **fit)
    crossed = _report(labels, crossed_pred)
    crossed.update(_bootstrap(labels, crossed_pred, probs.argmax(1)))
    bias = fit_class_bias(probs, labels, **fit)
    fitted = _report(labels, (np.log(np.clip(probs, 1e-12, 1)) + bias).argmax(1))
    for name, r in (("without biases", before), ("2-fold cross-fitted", crossed), ("fitted on all (optimistic)", fitted)):
        print(f"PublicTest {name}: accuracy {r['accuracy']:.4f} UAR {r['uar']:.4f} "
              + " ".join(f"{e[:4]} {v:.3f}" for e, v in r["recall"].items()))
    print("cross-fitted change, 95 % bootstrap interval: UAR", crossed["uar_gain_ci95"], "accuracy",
          crossed["accuracy_change_ci95"])
    print("biases:", dict(zip(EXPRESSIONS, np.round(bias, 3).tolist())))
    net, card = load_model(a.model)
    with torch.no_grad():
        net.expression_head.bias += torch.from_numpy(bias)
    recipe = dict(card.get("training", {}))
    recipe["class_bias"] = {
        "method": f"affectkit.evaluation.class_bias.fit_class_bias: per-class logit offsets maximising {a.objective} "
                  f"with accuracy at most {MAX_DROP * 100:.0f} point lower, added to expression_head.bias",
        "objective": a.objective,
        "fitted_on": "FER-2013 PublicTest (validation split), mirror TTA",
        "command": "python scripts/fit_class_bias.py " + " ".join(str(x) for x in [a.model, "--out", a.out,
                                                                                   "--objective", a.objective]),
        "bias": dict(zip(EXPRESSIONS, [round(float(b), 4) for b in bias])),
        "publictest_without": before,
        "publictest_cross_fitted": crossed,
        "publictest_fitted": fitted,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    export_model(net, a.out, recipe=recipe, face_size=card["input"]["face_size"])
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
