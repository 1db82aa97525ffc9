"""Copy a trained model into the package as a bundled model.

    .venv/bin/python scripts/ship_model.py MODEL.safetensors [--name default]

MODEL is the ``model.safetensors`` an ``affectkit train`` run exported (for the default
recipe: ``runs/default_stage6/seed_0/model/model.safetensors``). Its card already holds
the run's config, the command that made it and, for a cascade, the training section of
every earlier stage (``init_from_training``); this script re-exports weights and card
into src/affectkit/weights/NAME.*, with its ONNX export NAME.onnx (checked against torch,
the card's ``onnx`` section; ``affectkit export``). Metrics are then filled in by
``benchmarks/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from affectkit.models.card import export_model, load_model
from affectkit.models.export import export_face_onnx

ROOT = Path(__file__).resolve().parents[1]

# Terms of the data and weights a bundled model may be trained from; a card lists those its
# training section (the whole lineage) names.
LICENCES = {
    "fer2013": "FER-2013 (Goodfellow et al. 2013), Kaggle release, research use",
    "diffusionfer": "DiffusionFER (FER-Universe), CC0-1.0, synthetic faces",
    "ferplus": "FER+ votes (Barsoum et al. 2016, microsoft/FERPlus), MIT",
    "imagenet_weights": "torchvision / timm ImageNet weights (BSD-3-Clause code; ImageNet terms of use)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--name", default="default")
    args = ap.parse_args()
    net, card = load_model(args.model)
    recipe = dict(card.get("training", {}))
    text = json.dumps(recipe).lower()
    recipe["licences"] = {k: v for k, v in LICENCES.items() if k in text or k == "imagenet_weights"}
    dest = ROOT / "src" / "affectkit" / "weights" / f"{args.name}.safetensors"
    export_model(net, dest, recipe=recipe, face_size=card["input"]["face_size"])
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB) and {dest.with_suffix('.json')}")
    onnx = export_face_onnx(dest, dest.parent)
    print(f"wrote {onnx.files[0]} (torch and ONNX Runtime agree to {onnx.worst:.2g})")


if __name__ == "__main__":
    main()
