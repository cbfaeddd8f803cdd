#!/usr/bin/env bash
# Add Fine-Tuning Studio to this user's application menu (no root needed):
#   ./install.sh            a menu entry + icon pointing at this folder
#   ./install.sh --remove   take them away again
# The folder itself stays where you unpacked it; move it first if you want it elsewhere.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APPS=${XDG_DATA_HOME:-$HOME/.local/share}/applications
ICONS=${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor
if [ "${1:-}" = "--remove" ]; then
  rm -f "$APPS/fine-tuning-studio.desktop"
  for n in 16 24 32 48 64 128 256 512; do rm -f "$ICONS/${n}x${n}/apps/fine-tuning-studio.png"; done
  echo "Removed the menu entry."
  exit 0
fi
mkdir -p "$APPS"
for n in 16 24 32 48 64 128 256 512; do
  mkdir -p "$ICONS/${n}x${n}/apps"
  cp "$HERE/icons/studio-$n.png" "$ICONS/${n}x${n}/apps/fine-tuning-studio.png"
done
sed "s|^Exec=FineTuningStudio|Exec=\"$HERE/FineTuningStudio\"|" \
  "$HERE/fine-tuning-studio.desktop" > "$APPS/fine-tuning-studio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$APPS" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$ICONS" || true
echo "Fine-Tuning Studio is in your application menu (runs $HERE/FineTuningStudio)."
