#!/usr/bin/env bash
# Build the Linux bundle: PyInstaller one-folder app -> tar.gz (and an AppImage where
# appimagetool is on PATH, as in CI).
#
#   TORCH_VARIANT=cpu|cuda|rocm packaging/build_linux.sh      (make package)
#
# Outputs (gitignored): dist/FineTuningStudio/ (the folder), dist/FineTuningStudio-<version>-
# linux-<arch>-<variant>.tar.gz, and maybe the .AppImage; the build venv lives in
# packaging/.venv-build-<variant>/ and PyInstaller's work files in build/pyinstaller/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"
VARIANT=${TORCH_VARIANT:-cpu}
VENV=${BUILD_VENV:-packaging/.venv-build-$VARIANT}
ARCH=$(uname -m)
T0=$(date +%s)

# What to pack: the committed tree (HEAD) by default, so a half-edited working tree never
# ships; PACKAGE_FROM=worktree packs uncommitted changes too (CI's checkout is the same).
SRC=.
if [ "${PACKAGE_FROM:-head}" = head ] && git rev-parse --git-dir >/dev/null 2>&1; then
  SRC=build/src
  rm -rf "$SRC" && mkdir -p "$SRC"
  git archive HEAD | tar -x -C "$SRC"
  echo "== packing the committed tree (HEAD $(git rev-parse --short HEAD));" \
       "PACKAGE_FROM=worktree packs uncommitted changes too"
fi

if [ ! -f "$VENV/.torch-variant" ]; then
  TORCH_VARIANT=$VARIANT packaging/make_build_venv.sh "$VENV"   # ends with the torch check
else
  # a reused venv (perhaps from before this check): torch, torchvision, torchaudio matching
  "$VENV/bin/python" "$SRC/packaging/torch_check.py" check --variant "$VARIANT" \
    --where "the build venv ($VENV)"
fi
# the studio itself (its metadata: name, version), from the tree being packed
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation --force-reinstall \
  "$SRC" 2>/dev/null
T1=$(date +%s)
VERSION=$("$VENV/bin/python" -c "from importlib.metadata import version; print(version('fine-tuning-studio'))")

echo "== PyInstaller (studio $VERSION, torch variant $VARIANT)"
rm -rf dist/FineTuningStudio
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist \
  --workpath build/pyinstaller "$SRC/packaging/studio.spec"
T2=$(date +%s)

APP=dist/FineTuningStudio
# The same check inside the bundle: what PyInstaller collected, imported by the frozen app.
"$APP/studio" --check-torch --variant "$VARIANT"
cp "$SRC"/packaging/linux/fine-tuning-studio.desktop "$SRC"/packaging/linux/install.sh "$APP/"
mkdir -p "$APP/icons" && cp "$SRC"/packaging/icons/studio-*.png "$APP/icons/"
cat > "$APP/README.txt" <<TXT
Fine-Tuning Studio $VERSION for Linux ($ARCH, torch: $VARIANT build)

  ./FineTuningStudio                 open the window
  ./FineTuningStudio --self-test     check this install trains (a minute)
  ./studio --help                    the command line (studio train, doctor, ...)
  ./install.sh                       add it to your application menu
TXT

BASE="FineTuningStudio-$VERSION-linux-$ARCH-$VARIANT"
echo "== $BASE.tar.gz"
tar -C dist -cf - FineTuningStudio | gzip -1 > "dist/$BASE.tar.gz"

if command -v appimagetool >/dev/null; then
  echo "== $BASE.AppImage"
  APPDIR=build/AppDir
  rm -rf "$APPDIR" && mkdir -p "$APPDIR/usr/lib"
  cp -a "$APP" "$APPDIR/usr/lib/FineTuningStudio"
  cp "$SRC"/packaging/linux/fine-tuning-studio.desktop "$APPDIR/"
  cp "$SRC"/packaging/icons/studio-256.png "$APPDIR/fine-tuning-studio.png"
  cat > "$APPDIR/AppRun" <<'SH'
#!/bin/sh
HERE=$(dirname "$(readlink -f "$0")")
exec "$HERE/usr/lib/FineTuningStudio/FineTuningStudio" "$@"
SH
  chmod +x "$APPDIR/AppRun"
  ARCH=$ARCH appimagetool --no-appstream "$APPDIR" "dist/$BASE.AppImage"
else
  echo "(appimagetool not on PATH: no AppImage; the tar.gz is the Linux package)"
fi
T3=$(date +%s)

size_dir=$(du -sm "$APP" | cut -f1)
size_tgz=$(du -sm "dist/$BASE.tar.gz" | cut -f1)
{
  echo "version=$VERSION variant=$VARIANT arch=$ARCH source=$( [ "$SRC" = . ] && echo worktree || git rev-parse --short HEAD)"
  echo "torch=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
  echo "venv_s=$((T1 - T0)) pyinstaller_s=$((T2 - T1)) archive_s=$((T3 - T2)) total_s=$((T3 - T0))"
  echo "folder_mb=$size_dir tar_gz_mb=$size_tgz"
} | tee dist/build-info.txt
