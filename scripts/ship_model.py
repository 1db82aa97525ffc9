"""Copy a trained model into the package as a bundled model.

    .venv/bin/python scripts/ship_model.py MODEL.safetensors [--name default]

MODEL is the ``model.safetensors`` an ``affectkit train`` run exported (for the default
recipe: ``runs/default_stage2/seed_0/model/model.safetensors``). Its card already holds
the run's config, the command that made it and, for a cascade, the training section of
every earlier stage (``init_from_training``); this script re-exports weights and card
into src/affectkit/weights/NAME.*. Metrics are then filled in by
``benchmarks/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from affectkit.models.card import export_model, load_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--name", default="default")
    args = ap.parse_args()
    net, card = load_model(args.model)
    dest = ROOT / "src" / "affectkit" / "weights" / f"{args.name}.safetensors"
    export_model(net, dest, recipe=card.get("training", {}), face_size=card["input"]["face_size"])
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB) and {dest.with_suffix('.json')}")


if __name__ == "__main__":
    main()
