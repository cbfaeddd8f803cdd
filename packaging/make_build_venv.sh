#!/usr/bin/env bash
# Create the packaging virtual environment: the studio's requirements with ONE chosen torch
# variant, plus PyInstaller. Kept apart from the dev venv (.venv), whose CUDA torch would make
# a multi-GB bundle.
#
#   TORCH_VARIANT=cpu|cuda|rocm|default  packaging/make_build_venv.sh VENV_DIR
#
#   cpu      CPU-only wheels from the PyTorch CPU index (~200 MB of torch instead of ~4 GB).
#            Where that index cannot be reached, takes the pinned torch, torchvision and
#            torchaudio '+cpu' wheels from a local wheelhouse ($TORCH_WHEELHOUSE, default:
#            pip's find-links), all three or it stops: never torch alone.
#   cuda     NVIDIA GPUs: on Linux PyPI's default wheels (CUDA 13.0 + the nvidia-* runtime
#            wheels); on Windows the PyTorch CUDA index ($TORCH_CUDA_INDEX).
#   rocm     AMD GPUs on Linux: the PyTorch ROCm index ($TORCH_ROCM_INDEX).
#   default  whatever PyPI gives on this OS (macOS: the MPS-capable wheel).
# Ends with packaging/torch_check.py: the venv must hold torch, torchvision and torchaudio of
# one release (its COMPANIONS table), or the build stops there, saying what is missing.
set -euo pipefail

VENV=${1:?usage: make_build_venv.sh VENV_DIR}
VARIANT=${TORCH_VARIANT:-cpu}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
TORCH_PINS=$(grep -E '^(torch|torchvision|torchaudio)==' "$ROOT/requirements.txt" | tr '\n' ' ')
CHECK=("$PYTHON" "$HERE/torch_check.py")   # stdlib only: runs before the venv has torch
CPU_INDEX=${TORCH_CPU_INDEX:-$("${CHECK[@]}" index cpu)}
ROCM_INDEX=${TORCH_ROCM_INDEX:-$("${CHECK[@]}" index rocm)}
CUDA_INDEX=${TORCH_CUDA_INDEX:-$("${CHECK[@]}" index cuda)}
PIP_Q=(--quiet --disable-pip-version-check)

test -d "$VENV" || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
[ -x "$VENV/Scripts/python.exe" ] && PY="$VENV/Scripts/python.exe"   # Windows (Git Bash)
PIP=("$PY" -m pip)
"${PIP[@]}" install "${PIP_Q[@]}" --upgrade pip wheel setuptools >/dev/null

echo "== torch variant: $VARIANT ($TORCH_PINS)"
case "$VARIANT" in
  cpu)
    # shellcheck disable=SC2086
    if ! "${PIP[@]}" install "${PIP_Q[@]}" --retries 1 --timeout 20 --index-url "$CPU_INDEX" \
         $TORCH_PINS; then
      echo "!! the PyTorch CPU index ($CPU_INDEX) is unreachable: looking for the pinned" \
           "torch, torchvision and torchaudio +cpu wheels in the local wheelhouse" \
           "${TORCH_WHEELHOUSE:-${PIP_FIND_LINKS:-(none)}}" >&2
      # all three or none (a torch-only bundle cannot train images or audio): torch_check
      # stops the build here, naming the missing wheels and what to do
      whls=$("${CHECK[@]}" wheelhouse "${TORCH_WHEELHOUSE:-${PIP_FIND_LINKS:-}}" --local cpu \
             --requirements "$ROOT/requirements.txt")
      # shellcheck disable=SC2086
      "${PIP[@]}" install "${PIP_Q[@]}" $whls
    fi ;;
  cuda)
    # Linux: PyPI's wheels are the CUDA build. Windows: PyPI's are CPU-only, so the CUDA
    # build comes from the PyTorch CUDA index.
    if [ -x "$VENV/Scripts/python.exe" ]; then
      # shellcheck disable=SC2086
      "${PIP[@]}" install "${PIP_Q[@]}" --index-url "$CUDA_INDEX" $TORCH_PINS
    else
      # shellcheck disable=SC2086
      "${PIP[@]}" install "${PIP_Q[@]}" $TORCH_PINS
    fi ;;
  default)
    # shellcheck disable=SC2086
    "${PIP[@]}" install "${PIP_Q[@]}" $TORCH_PINS ;;
  rocm)
    # shellcheck disable=SC2086
    "${PIP[@]}" install "${PIP_Q[@]}" --index-url "$ROCM_INDEX" $TORCH_PINS ;;
  *)
    echo "error: TORCH_VARIANT=$VARIANT; use cpu, cuda, rocm or default" >&2; exit 2 ;;
esac

# Everything else: the requirements without the torch lines (so pip keeps the torch above).
grep -v -E '^(torch|torchvision|torchaudio)==' "$ROOT/requirements.txt" > "$VENV/requirements-notorch.txt"
"${PIP[@]}" install "${PIP_Q[@]}" -r "$VENV/requirements-notorch.txt" "pyinstaller>=6.10"
"${PIP[@]}" install "${PIP_Q[@]}" --no-deps -r "$ROOT/requirements-nodeps.txt"
# The studio itself, non-editable, so its metadata (name, version) is bundled.
"${PIP[@]}" install "${PIP_Q[@]}" --no-deps --no-build-isolation "$ROOT"
"$PY" "$HERE/torch_check.py" check --variant "$VARIANT" --where "the build venv ($VENV)"
"$PY" - <<'PY'
import torch
print(f"== build venv ready: torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"HIP {getattr(torch.version, 'hip', None)}")
PY
echo "$VARIANT" > "$VENV/.torch-variant"
