"""Check that a refactor left the shipped model's outputs unchanged; writes docs/refactor_equivalence.json.

    .venv/bin/python benchmarks/refactor_equivalence.py [--old 424555d]

The default model bundled at commit OLD (weights and card as they were) is run on FER-2013
PrivateTest (3,589 faces, the ``test`` split, mirror TTA) twice: by the code of commit OLD
(checked out with ``git worktree`` into a temporary folder and imported from there, in a
subprocess) and by the code of this checkout. Both read the same face arrays, loaded once
by this checkout. Reported: the largest absolute difference of the expression
probabilities and of valence/arousal, and how many predicted classes differ.
Issue 14 asks for bit-identical outputs or equal within 1e-5.
Data: ``$AFFECTKIT_SHARED`` (default ``../shared``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTKIT_SHARED", ROOT.parent / "shared"))
OUT = ROOT / "docs" / "refactor_equivalence.json"

# Run by the interpreter of this checkout with the old code first on sys.path.
PREDICT = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from affectkit.models.recognizer import Recognizer
faces = np.load(sys.argv[2])
proba, va = Recognizer(sys.argv[3], tta="flip").predict_arrays(faces)
import affectkit
assert affectkit.__file__.startswith(sys.argv[1]), affectkit.__file__
np.savez(sys.argv[4], proba=proba, va=va)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="424555d", help="the commit before the refactor")
    args = ap.parse_args()
    from affectkit.data.registry import load_dataset
    from affectkit.io.write import write_json_atomic
    from affectkit.models.recognizer import Recognizer

    faces = load_dataset(f"fer2013:{SHARED}/data/fer2013", "test")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), args.old], cwd=ROOT, check=True)
        try:
            model = old / "src" / "affectkit" / "weights" / "default.safetensors"
            np.save(tmp / "faces.npy", faces.images)
            subprocess.run([sys.executable, "-c", PREDICT, str(old / "src"), str(tmp / "faces.npy"), str(model),
                            str(tmp / "old.npz")], check=True)
            ref = np.load(tmp / "old.npz")
            proba, va = Recognizer(model, tta="flip").predict_arrays(faces.images)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=True)
    result = {
        "command": "python benchmarks/refactor_equivalence.py --old " + args.old,
        "old_commit": args.old,
        "data": "FER-2013 PrivateTest (test split), mirror TTA",
        "faces": len(faces),
        "max_abs_diff_proba": float(np.abs(proba - ref["proba"]).max()),
        "max_abs_diff_va": float(np.abs(va - ref["va"]).max()),
        "predicted_classes_differing": int((proba.argmax(1) != ref["proba"].argmax(1)).sum()),
        "bit_identical": bool(np.array_equal(proba, ref["proba"]) and np.array_equal(va, ref["va"])),
    }
    write_json_atomic(OUT, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
