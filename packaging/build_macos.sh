#!/usr/bin/env bash
# macOS: "Fine-Tuning Studio.app" in a .dmg (run on a macOS runner, as CI does).
#   packaging/build_macos.sh
# torch: PyPI's default macOS wheel, which has Metal (MPS) support on Apple silicon.
# -> dist/Fine-Tuning Studio.app -> dist/FineTuningStudio-<version>-macos-<arch>.dmg
# Unsigned unless SIGN_IDENTITY is set (then codesign --deep; notarise separately).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${BUILD_VENV:-packaging/.venv-build-default}
TORCH_VARIANT=default packaging/make_build_venv.sh "$VENV"
VERSION=$("$VENV/bin/python" -c "from importlib.metadata import version; print(version('fine-tuning-studio'))")
ARCH=$(uname -m)
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist \
  --workpath build/pyinstaller packaging/studio.spec
APP="dist/Fine-Tuning Studio.app"
test -d "$APP"
if [ -n "${SIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --sign "$SIGN_IDENTITY" "$APP"
fi
# The bundle holds a matching torch, torchvision and torchaudio (packaging/torch_check.py),
# and its self-test trains every family, before it is packed (offscreen, no window appears).
"$APP/Contents/MacOS/studio" --check-torch --variant default
QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 "$APP/Contents/MacOS/FineTuningStudio" --self-test
STAGE=build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"   # drag the app onto it
DMG="dist/FineTuningStudio-$VERSION-macos-$ARCH.dmg"
rm -f "$DMG"
hdiutil create -volname "Fine-Tuning Studio $VERSION" -srcfolder "$STAGE" -ov \
  -format UDZO "$DMG"
ls -l "$DMG"
