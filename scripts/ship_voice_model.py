"""Train the bundled voice model and write it into the package.

The model is the MLP of Vielzeuf et al. (2018) on affectkit's librosa functionals,
trained on all of EmoDB (Burkhardt et al. 2005) as ``../shared`` holds it (22.05 kHz,
2-second utterances). It is trained **without** per-speaker normalisation: at
``analyze --audio`` time a clip's own statistics would cancel the emotion that the clip
holds throughout, so only raw features can be used on a single video. Its
leave-one-speaker-out figures (same model, same features, raw) are in docs/audio.md.

    python scripts/ship_voice_model.py [--emodb ../shared/data/emodb] [--seed 0]

Writes ``src/affectkit/weights/voice_emodb.safetensors`` and ``.json`` atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from affectkit.audio.corpora import load_emodb
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
    model = make_audio_model("mlp", seed=args.seed)
    model.fit(x, data.labels[keep], groups=[s for s, k in zip(data.speakers, keep) if k])
    save_audio_model(
        model, args.out, feature_kind="librosa", feature_names=feature_names("librosa"),
        class_names=data.class_names, sample_rate=16000, window_s=2.0, speaker_norm=False,
        training={"data": "EmoDB (Burkhardt et al. 2005), all 10 speakers, 535 utterances, 22.05 kHz 2-s copy",
                  "licence_note": "EmoDB is free for research use; so is this model",
                  "evaluation": "leave-one-speaker-out figures of this recipe (mlp, raw features): docs/audio.md",
                  "command": "python scripts/ship_voice_model.py", "seed": args.seed},
    )
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
