#!/usr/bin/env bash
# Creates .venv (once) and installs avssl with its test extras into it. Safe to run again: it only installs
# what is missing. Usage: ./setup.sh   (then use .venv/bin/avssl, .venv/bin/python -m pytest)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, torchvision, torchaudio" 2>/dev/null; then
  .venv/bin/pip install -q -r requirements-torch.txt
fi
if ! .venv/bin/python -c "import avssl, pytest, ruff, cv2, h5py, psutil, timm, matplotlib, scipy, librosa, sklearn, skimage, pycocotools" 2>/dev/null; then
  .venv/bin/pip install -q -c requirements-torch.txt -e ".[dev]"
fi
echo "avssl environment ready: $(pwd)/.venv"
