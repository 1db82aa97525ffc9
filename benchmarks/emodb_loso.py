"""Leave-one-speaker-out voice emotion recognition on EmoDB; writes docs/audio.md and docs/audio.json.

    .venv/bin/python benchmarks/emodb_loso.py [--seeds 0 1 2] [--no-opensmile] [--quick]

Runs :func:`affectkit.audio.experiment.run_audio_experiment` on the 535 EmoDB
recordings (Burkhardt et al. 2005; 10 speakers, 7 classes) for:

* the MLP of Vielzeuf et al. (2018), the same MLP pretrained on speaker gender first
  (transfer as Ouyang et al. 2017; source data = the training-fold speakers' recordings),
  a random forest and a linear SVM whose C is chosen by an inner leave-one-speaker-out
  on the training speakers only; all on the default librosa functionals, with and
  without per-speaker feature normalisation;
* a fixed late fusion (mean probability, no weights tuned) of those four librosa models
  with speaker normalisation;
* with openSMILE installed (optional, non-commercial licence): the MLP and SVM on
  eGeMAPSv02, and the SVM on ComParE_2016.

Every number in the written documents comes from this run. Features are cached under
``$AFFECTKIT_CACHE/audio_features``; the extraction time is reported as measured (a
cache hit takes well under a second). Reports of every configuration go to
``runs/audio_emodb/<name>/``. The voice-activity and calibration section of
``docs/audio.md`` (and the ``voice_model`` entry of ``docs/audio.json``) is written by
``benchmarks/voice_model.py``; this script keeps it when it rewrites the page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from affectkit.audio.corpora import load_emodb
from affectkit.audio.experiment import run_audio_experiment
from affectkit.audio.features import extract_features
from affectkit.evaluation.metrics import classification_report
from affectkit.evaluation.protocols import ensemble, format_mean_std
from affectkit.io.write import atomic_path
from affectkit.paths import shared_dir

ROOT = Path(__file__).resolve().parents[1]
SVM_GRID = {"C": [0.001, 0.003, 0.01, 0.03, 0.1]}
GOAL_UAR = 0.85


def _have_opensmile() -> bool:
    try:
        import opensmile  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--no-opensmile", action="store_true", help="skip the openSMILE feature sets")
    ap.add_argument("--quick", action="store_true", help="librosa MLP and SVM only (a smoke run)")
    ap.add_argument("--jobs", type=int, default=2, help="workers for feature extraction and inner folds")
    ap.add_argument("--docs", default=str(ROOT / "docs"), help="where audio.md / audio.json go")
    args = ap.parse_args()
    command = "python benchmarks/emodb_loso.py " + " ".join(sys.argv[1:])
    command = command.strip()
    t_start = time.time()

    data = load_emodb(shared_dir() / "data" / "emodb")
    seeds = tuple(args.seeds)
    kinds = ["librosa"]
    if not args.no_opensmile and not args.quick and _have_opensmile():
        kinds += ["egemaps", "compare"]
    extraction = {}
    for kind in kinds:
        t = time.time()
        x = extract_features(data, kind, n_jobs=args.jobs)
        extraction[kind] = {"seconds": round(time.time() - t, 1), "dims": int(x.shape[1])}
        print(f"{kind}: {x.shape} in {extraction[kind]['seconds']} s", flush=True)

    # (name, features, model, speaker_norm, seeds, tune)
    plan = []
    for norm in (False, True):
        tag = "spknorm" if norm else "raw"
        plan += [
            (f"librosa-mlp-{tag}", "librosa", "mlp", norm, seeds, None),
            (f"librosa-transfer-mlp-{tag}", "librosa", "transfer-mlp", norm, seeds, None),
            (f"librosa-rf-{tag}", "librosa", "rf", norm, seeds, None),
            # the linear SVM with Platt scaling is deterministic: one run is every seed
            (f"librosa-svm-{tag}", "librosa", "svm", norm, seeds[:1], SVM_GRID),
        ]
    if args.quick:
        plan = [p for p in plan if p[2] in ("mlp", "svm")]
    if "egemaps" in kinds:
        plan += [("egemaps-mlp-spknorm", "egemaps", "mlp", True, seeds, None),
                 ("egemaps-svm-spknorm", "egemaps", "svm", True, seeds[:1], SVM_GRID)]
    if "compare" in kinds:
        plan += [("compare-svm-spknorm", "compare", "svm", True, seeds[:1], {"C": [0.001, 0.01]})]

    rows, reports, probas = [], {}, {}
    for name, feats, model, norm, run_seeds, tune in plan:
        t = time.time()
        rep = run_audio_experiment(data, feats, model, "loso", run_seeds, norm, ROOT / "runs" / "audio_emodb" / name,
                                   tune=tune, n_jobs=args.jobs, command=command, title=f"EmoDB LOSO: {name}")
        probas[name] = rep.pop("oof_proba")
        reports[name] = rep
        s = rep["summary"]
        row = {
            "name": name, "features": feats, "model": model, "speaker_norm": norm, "seeds": list(run_seeds),
            "tuned": rep["seeds"][0].get("tuned"),
            "uar": format_mean_std(s["uar"]), "accuracy": format_mean_std(s["accuracy"]),
            "uar_mean": s["uar"]["mean"], "uar_std": s["uar"]["std"],
            "accuracy_mean": s["accuracy"]["mean"], "accuracy_std": s["accuracy"]["std"],
            "ensemble_uar": rep["pooled"]["uar"], "ensemble_accuracy": rep["pooled"]["accuracy"],
            "seconds": round(time.time() - t, 1),
        }
        rows.append(row)
        print(f"{name}: UAR {row['uar']}, acc {row['accuracy']}, ensemble UAR {row['ensemble_uar'] * 100:.2f} "
              f"({row['seconds']} s)", flush=True)

    fusion_of = [n for n in ("librosa-mlp-spknorm", "librosa-transfer-mlp-spknorm", "librosa-rf-spknorm",
                             "librosa-svm-spknorm") if n in probas]
    if len(fusion_of) > 1:
        y = data.labels
        fused = classification_report(y, ensemble([probas[n] for n in fusion_of]).argmax(1),
                                      len(data.class_names), class_names=list(data.class_names))
        reports["librosa-fusion-spknorm"] = {"pooled": fused, "members": fusion_of}
        rows.append({"name": "librosa-fusion-spknorm", "features": "librosa", "model": "mean of " + ", ".join(
            n.replace("librosa-", "").replace("-spknorm", "") for n in fusion_of), "speaker_norm": True,
            "seeds": list(seeds), "tuned": None, "uar": "", "accuracy": "", "uar_mean": None, "uar_std": None,
            "accuracy_mean": None, "accuracy_std": None, "ensemble_uar": fused["uar"],
            "ensemble_accuracy": fused["accuracy"], "seconds": 0.0})

    write_docs(args, command, data, extraction, rows, reports, time.time() - t_start)


def _machine() -> dict:
    import librosa
    import sklearn
    import torch

    return {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "librosa": librosa.__version__,
            "scikit-learn": sklearn.__version__}


VOICE_MODEL_SECTION = ("<!-- benchmarks/voice_model.py: begin -->", "<!-- benchmarks/voice_model.py: end -->")
"""Markers of the section benchmarks/voice_model.py writes into audio.md; kept on rewrite."""


def _kept_voice_model(docs: Path) -> tuple[str, object]:
    """The voice_model.py section of audio.md and its audio.json entry, to carry over a rewrite."""
    begin, end = VOICE_MODEL_SECTION
    md, js = docs / "audio.md", docs / "audio.json"
    text = md.read_text() if md.is_file() else ""
    section = text[text.index(begin): text.index(end) + len(end)] if begin in text and end in text else ""
    try:
        entry = json.loads(js.read_text()).get("voice_model") if js.is_file() else None
    except json.JSONDecodeError:
        entry = None
    return section, entry


def write_docs(args, command, data, extraction, rows, reports, seconds) -> None:
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    kept_section, kept_entry = _kept_voice_model(docs)
    machine = _machine()
    date = dt.date.today().isoformat()
    best = max(rows, key=lambda r: max(r["ensemble_uar"], r["uar_mean"] or 0))
    best_uar = max(best["ensemble_uar"], best["uar_mean"] or 0)
    out = {"command": command, "date": date, "machine": machine, "seconds": round(seconds, 1),
           "n": len(data), "speakers": len(set(data.subjects)), "classes": list(data.class_names),
           "feature_extraction": extraction, "rows": rows,
           "reports": {k: {"pooled": v["pooled"], "summary": v.get("summary"), "config": v.get("config"),
                           "members": v.get("members")} for k, v in reports.items()},
           "goal_uar": GOAL_UAR, "best": best["name"], "best_uar": best_uar}
    if kept_entry is not None:
        out["voice_model"] = kept_entry  # written by benchmarks/voice_model.py, not by this run
    from affectkit.io.write import write_json_atomic

    write_json_atomic(docs / "audio.json", out, indent=1)

    pct = lambda v: "" if v is None else f"{v * 100:.2f}"  # noqa: E731
    lines = [
        "# Voice emotion recognition on EmoDB (leave-one-speaker-out)", "",
        "Every figure here is written by one command, on a machine with the shared data folder",
        "(`$AFFECTKIT_SHARED`, default `../shared`):", "", f"    {command}", "",
        f"Run on {date} on `{machine['machine']}` ({machine['cpu_count']} CPU cores, no GPU used), "
        f"Python {machine['python']}, torch {machine['torch']}, librosa {machine['librosa']}, "
        f"scikit-learn {machine['scikit-learn']}; {seconds / 60:.1f} min in all.", "",
        "## Data and protocol", "",
        f"EmoDB (Burkhardt et al. 2005): {len(data)} recordings, {len(set(data.subjects))} speakers, "
        f"{len(data.class_names)} classes ({', '.join(data.class_names)}). The shared copy is resampled to "
        "22,050 Hz mono and cut or zero-padded to exactly 2.0 s, so longer utterances lose their end; "
        "figures are not directly comparable with papers that use the full recordings.", "",
        "Protocol: leave-one-speaker-out (10 folds); the out-of-fold predictions of all folds are pooled "
        "and scored. UAR = unweighted average recall (mean of the 7 per-class recalls). "
        "\"mean ± std\" is over training seeds (sample std); \"seed ensemble\" scores the mean of the "
        "seeds' probabilities. The linear SVM (Platt-scaled) is deterministic, so it ran once.", "",
        "Speaker normalisation (\"spk-norm\"): every feature is z-scored per speaker using all of that "
        "speaker's recordings and no labels. For the test speaker this is transductive (it needs the "
        "speaker's unlabelled recordings at test time); it is standard in EmoDB LOSO work and is reported "
        "next to the raw features.", "",
        "Hyperparameters: the SVM's C is chosen per outer fold by an inner leave-one-speaker-out over the "
        "nine training speakers (grid " + ", ".join(map(str, SVM_GRID["C"])) + " for librosa/eGeMAPS, "
        "0.001, 0.01 for the 6373 ComParE features), "
        "maximising UAR; the test speaker is never used. The MLP (64 hidden units, batch norm, ReLU, "
        "dropout 0.5, Adam lr 1e-3, weight decay 1e-3, 100 epochs, batch 32, class-weighted loss) and the "
        "forest (300 trees) use fixed settings, not tuned on EmoDB.", "",
        "Transfer (transfer-mlp, after Ouyang et al. 2017): in every fold the MLP is first trained on "
        "speaker gender (male/female) of the training-fold recordings, the nine training speakers only, "
        "then fine-tuned on emotion with a new output layer (whole network, same learning rate). No "
        "external gender corpus is available here, so the source data are the same recordings with other "
        "labels.", "",
        "## Feature extraction", "",
        "| features | dimensions | seconds (this run; a cache hit is < 1 s) |", "|---|---|---|",
    ]
    for kind, e in extraction.items():
        lines.append(f"| {kind} | {e['dims']} | {e['seconds']} |")
    lines += [
        "", "`librosa`: affectkit's eGeMAPS-like functionals (pyin pitch, energy, spectral shape and "
        "balance, MFCC 1-13 and deltas, voicing timing; see `affectkit.audio.features`). `egemaps` / "
        "`compare`: openSMILE eGeMAPSv02 / ComParE_2016 functionals (Eyben et al. 2016; optional extra "
        "`affectkit[opensmile]`; **openSMILE's licence forbids commercial use**).", "",
        "## Results", "",
        "| configuration | features | model | spk-norm | seeds | UAR % (mean ± std) | accuracy % (mean ± std) "
        "| seed ensemble UAR % | seed ensemble accuracy % | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['features']} | {r['model']} | {'yes' if r['speaker_norm'] else 'no'} | "
                     f"{len(r['seeds'])} | {r['uar']} | {r['accuracy']} | {pct(r['ensemble_uar'])} | "
                     f"{pct(r['ensemble_accuracy'])} | {r['seconds']} |")
    lines += ["", "The fusion row averages the probabilities of the listed speaker-normalised librosa "
              "models (their seed ensembles), with equal weights fixed before the run.", ""]
    tuned = [(r["name"], r["tuned"]) for r in rows if r.get("tuned")]
    if tuned:
        lines += ["SVM C chosen by the inner folds (one value per test speaker, in speaker order):", ""]
        lines += [f"* {n}: {', '.join(str(t['C']) for t in ts)}" for n, ts in tuned]
        lines.append("")
    main_rep = reports[best["name"]]["pooled"]
    lines += [f"## Best configuration: {best['name']}", "",
              f"UAR {best_uar * 100:.2f} % (goal {GOAL_UAR * 100:.0f} %): "
              + ("goal reached." if best_uar >= GOAL_UAR else
                 f"the goal is **not** reached; the best figure is {(GOAL_UAR - best_uar) * 100:.2f} points short."),
              "", "Per-class recall (%) of its pooled (seed-ensemble) predictions:", "",
              "| " + " | ".join(data.class_names) + " |", "|" + "---|" * len(data.class_names),
              "| " + " | ".join(f"{v * 100:.1f}" for v in main_rep["recall"]) + " |", "",
              "Confusion matrix (rows true, columns predicted, same class order):", "", "```"]
    lines += ["  ".join(f"{v:4d}" for v in row) for row in main_rep["confusion"]]
    lines += ["```", "", "Per-configuration reports (per-seed figures, per-fold mean ± std, confusion "
              "matrices) are written to `runs/audio_emodb/<configuration>/report.md`; the machine-readable "
              "form of this page is `docs/audio.json`.", ""]
    if kept_section:
        lines += [kept_section, ""]
    with atomic_path(docs / "audio.md") as tmp:
        tmp.write_text("\n".join(lines))
    print(f"wrote {docs / 'audio.md'} and {docs / 'audio.json'}")


if __name__ == "__main__":
    main()
