"""Copy a trained run's model into the package as a bundled model.

    .venv/bin/python scripts/ship_model.py RUN_DIR [--name default] [--fer PATH] [--va-csv PATH]

Re-exports RUN_DIR/model.safetensors (with its card) to src/affectkit/weights/NAME.*,
writing the card's training section from RUN_DIR/config.json: the exact config and the
``affectkit train`` command that reproduces it. Metrics are then filled in by
``benchmarks/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from affectkit.models.card import export_model, load_model
from affectkit.training.multitask import MultitaskConfig, cli_command, training_recipe

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--name", default="default")
    ap.add_argument("--fer", default="../shared/data/fer2013")
    ap.add_argument("--va-csv", default="../shared/data/diffusionfer/dataset_sheet.csv")
    ap.add_argument("--out-dir", default="runs/default", help="--out as written in the recorded command")
    args = ap.parse_args()
    net, card = load_model(args.run_dir / "model.safetensors")
    cfg = MultitaskConfig(**json.loads((args.run_dir / "config.json").read_text()))
    train_data = card.get("training", {}).get("train_data", {})
    recipe = training_recipe(cfg, cli_command(cfg, args.fer, args.va_csv, args.out_dir), **train_data)
    dest = ROOT / "src" / "affectkit" / "weights" / f"{args.name}.safetensors"
    export_model(net, dest, recipe=recipe)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB) and {dest.with_suffix('.json')}")


if __name__ == "__main__":
    main()
