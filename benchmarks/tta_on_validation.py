"""Choose test-time augmentation on FER-2013's validation split (PublicTest), never on PrivateTest.

    .venv/bin/python benchmarks/tta_on_validation.py [--model default]

Prints validation accuracy and model time per face for each TTA mode of ``Recognizer``.
"""

from __future__ import annotations

import argparse
import time

from affectkit.data.fer2013 import load_fer2013
from affectkit.models.recognizer import TTA_MODES, Recognizer
from affectkit.paths import cache_dir, shared_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    val = load_fer2013(shared_dir() / "data" / "fer2013", "validation", cache=cache_dir())
    print("| TTA | PublicTest accuracy | model ms/face |\n|---|---|---|")
    for mode in TTA_MODES:
        rec = Recognizer(args.model, tta=mode, batch_size=128)
        t = time.perf_counter()
        probs = rec.predict_proba(val.images)
        ms = 1000 * (time.perf_counter() - t) / len(val)
        acc = (probs.argmax(1) == val.labels).mean()
        print(f"| {mode} | {100 * acc:.2f} % | {ms:.2f} |")


if __name__ == "__main__":
    main()
