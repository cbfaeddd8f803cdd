#!/usr/bin/env bash
# Windows installer (run in Git Bash on a Windows runner, as CI does):
#   TORCH_VARIANT=cuda|cpu packaging/build_windows.sh
# -> dist/FineTuningStudio/ (PyInstaller) -> dist/FineTuningStudio-<v>-windows-x64-<variant>-setup.exe
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VARIANT=${TORCH_VARIANT:-cuda}
VENV=${BUILD_VENV:-packaging/.venv-build-$VARIANT}
TORCH_VARIANT=$VARIANT packaging/make_build_venv.sh "$VENV"
PY="$VENV/Scripts/python.exe"
VERSION=$("$PY" -c "from importlib.metadata import version; print(version('fine-tuning-studio'))")
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/studio.spec
# the bundle holds a matching torch, torchvision and torchaudio (packaging/torch_check.py)
./dist/FineTuningStudio/studio.exe --check-torch --variant "$VARIANT"
ISCC=${ISCC:-iscc}
command -v "$ISCC" >/dev/null || ISCC="/c/Program Files (x86)/Inno Setup 6/ISCC.exe"
"$ISCC" "//DAppVersion=$VERSION" "//DVariant=$VARIANT" packaging/windows/studio.iss
ls -l dist/*.exe
