# Fine-Tuning Studio — every target does its own set-up on a fresh Debian + Python 3.11.
#   make run    create .venv, install, open the studio on the demo project
#   make test   create .venv, install, run every test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSSTAMP := $(VENV)/.sysdeps
# System libraries: Xvfb for a virtual screen, libpulse0 for QtMultimedia, fonts,
# the X/EGL libraries PySide6's wheels link against, and a window manager plus xdotool
# for the tests that press keys in a real window.
SYSPKGS := xvfb xauth libpulse0 fonts-dejavu-core libegl1 libgl1 libxkbcommon0 \
	libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 \
	libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 \
	libxcb-image0 libglib2.0-0 libsndfile1 openbox xdotool

.PHONY: run test venv sysdeps demo lint screenshots bench gui-bench clean package test-package

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

sysdeps: $(SYSSTAMP)

$(SYSSTAMP):
	@mkdir -p $(VENV)
	@missing=""; for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "Please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi
	@touch $@

run: venv sysdeps
	$(BIN)/python -m studio gui --demo

demo: venv
	HF_HUB_OFFLINE=1 $(BIN)/studio train resources/demo/sonnets.toml

test: venv sysdeps
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not gpu"

lint: venv
	$(BIN)/ruff check studio tests bench
	$(BIN)/lint-imports

screenshots: venv sysdeps
	HF_HUB_OFFLINE=1 xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python -m studio.qt.screenshots screenshots

gui-bench: venv sysdeps
	HF_HUB_OFFLINE=1 xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python bench/gui_responsiveness.py

bench: venv
	HF_HUB_OFFLINE=1 $(BIN)/python bench/engine_overhead.py

# Installers (packaging/README.md). `make package` builds the Linux one-folder bundle and
# tar.gz in its own venv with a CPU-only torch (TORCH_VARIANT=cuda|rocm for GPU builds);
# `make test-package` checks the bundle holds a matching torch, torchvision and torchaudio and
# runs its self-test (two steps of every family) offscreen. Neither is part of `test`.
TORCH_VARIANT ?= cpu
package:
	@time TORCH_VARIANT=$(TORCH_VARIANT) packaging/build_linux.sh

test-package:
	@test -x dist/FineTuningStudio/FineTuningStudio || { echo "run make package first"; exit 1; }
	cd /tmp && $(CURDIR)/dist/FineTuningStudio/studio --check-torch --variant $(TORCH_VARIANT)
	cd /tmp && HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen \
	  $(CURDIR)/dist/FineTuningStudio/FineTuningStudio --self-test

clean:
	rm -rf $(VENV) build dist *.egg-info
