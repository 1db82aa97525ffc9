"""Build an audio-visual test clip: a shared face video with EmoDB speech as its audio.

    .venv/bin/python scripts/make_av_clip.py OUT [--video PATH] [--emotion anger]
                                             [--wav FILE ...] [--gap SECONDS] [--codec aac]

The video's frames are copied unchanged; its own audio track is replaced by EmoDB
utterances of one emotion (sorted by file name, as many as cover the video, the last
one cut) or by the ``--wav`` files given, in order. The files used and their times are
written to OUT's ``comment`` tag and to ``OUT.json``. Both writes are atomic.

The shared sample videos have audio tracks, but none with speech (silence, ambient /
tonal sound, room noise), so they cannot exercise the voice model; this clip can. The
face and the voice are different people: use it for plumbing, not for accuracy.
See :func:`affectkit.testing.av_clip.make_av_clip`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from affectkit.errors import AffectkitError
from affectkit.testing.av_clip import make_av_clip, select_emodb
from affectkit.paths import shared_dir


def main(argv: list[str] | None = None) -> int:
    shared = shared_dir() if shared_dir().is_dir() else Path("/work/shared")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="output .mp4, .m4v, .mov or .mkv")
    ap.add_argument("--video", type=Path, default=shared / "media" / "single_face.mp4")
    ap.add_argument("--emodb", type=Path, default=shared / "data" / "emodb" / "wav", help="folder of EmoDB wavs")
    ap.add_argument("--emotion", default="anger", help="EmoDB emotion name or letter (W L E A F T N)")
    ap.add_argument("--wav", type=Path, nargs="+", help="explicit speech files, used in order (overrides --emotion)")
    ap.add_argument("--gap", type=float, default=0.0, help="seconds of silence between utterances")
    ap.add_argument("--codec", default="aac", choices=["aac", "pcm_s16le"], help="PCM needs .mov or .mkv")
    args = ap.parse_args(argv)
    try:
        wavs = args.wav or select_emodb(args.emodb, args.emotion)
        record = make_av_clip(args.video, wavs, args.out, gap=args.gap, codec=args.codec)
    except (AffectkitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: record[k] for k in ("output", "sidecar", "duration_s", "how")}, indent=2))
    for seg in record["segments"]:
        print(f"  {seg['start_s']:7.3f}-{seg['end_s']:7.3f} s  {Path(seg['file']).name}  {seg['emotion']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
