"""Train the bundled voice model and write it into the package.

The model is the MLP of Vielzeuf et al. (2018) on affectkit's librosa functionals,
trained on all of EmoDB (Burkhardt et al. 2005) as ``../shared`` holds it (22.05 kHz,
2-second utterances). It is trained **without** per-speaker normalisation: at
``analyze --audio`` time a clip's own statistics would cancel the emotion that the clip
holds throughout, so only raw features can be used on a single video. Its
leave-one-speaker-out figures (same model, same features, raw) are in docs/audio.md.

Calibration: the same recipe (same seed) is first run leave-one-speaker-out, and a
temperature is fitted on those out-of-fold logits by minimising the NLL (temperature
scaling, Guo et al. 2017; :func:`affectkit.audio.calibration.calibration_record`). It
goes into the card as ``"calibration"`` with the ECE before and after (15 equal-width
bins), and ``analyze --audio`` divides the logits by it. Training is deterministic for
a seed on one machine, so re-running this script rewrites the same weights.

    python scripts/ship_voice_model.py [--emodb ../shared/data/emodb] [--seed 0]

Writes ``src/affectkit/weights/voice_emodb.safetensors`` and ``.json`` atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import numpy as np

    from affectkit.audio.calibration import calibration_record
    from affectkit.audio.corpora import load_emodb
    from affectkit.audio.experiment import loso_logits
    from affectkit.audio.features import extract_features, feature_names
    from affectkit.audio.models import make_audio_model, save_audio_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=Path, default=ROOT.parent / "shared" / "data" / "emodb")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "affectkit" / "weights" / "voice_emodb.safetensors")
    args = ap.parse_args()
    data = load_emodb(args.emodb)
    keep = data.labels >= 0
    x = extract_features(data, "librosa", progress=True)[keep]
    y, speakers = data.labels[keep], np.asarray(data.subjects)[keep]
    # held-out predictions of this very recipe: each speaker scored by a model that never heard them
    calibration = calibration_record(
        loso_logits(x, y, speakers, seed=args.seed), y, speakers,
        fitted_on=f"out-of-fold logits of this recipe (mlp, raw librosa features, seed {args.seed}), "
                  f"leave-one-speaker-out over the {len(set(speakers))} EmoDB speakers, {len(y)} utterances")
    print(f"temperature {calibration['temperature']:.4f}: ECE {calibration['ece_before']:.4f} -> "
          f"{calibration['ece_after']:.4f} ({calibration['ece_after_held_out']:.4f} with T fitted without the "
          "scored speaker)")
    model = make_audio_model("mlp", seed=args.seed)
    model.fit(x, y, groups=list(speakers))
    save_audio_model(
        model, args.out, feature_kind="librosa", feature_names=feature_names("librosa"),
        class_names=data.class_names, sample_rate=16000, window_s=2.0, speaker_norm=False,
        training={"data": "EmoDB (Burkhardt et al. 2005), all 10 speakers, 535 utterances, 22.05 kHz 2-s copy",
                  "licence_note": "EmoDB is free for research use; so is this model",
                  "evaluation": "leave-one-speaker-out figures of this recipe (mlp, raw features): docs/audio.md",
                  "command": "python scripts/ship_voice_model.py", "seed": args.seed},
        calibration=calibration,
    )
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
