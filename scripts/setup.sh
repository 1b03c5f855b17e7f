#!/usr/bin/env bash
# Set up pianoeval on a fresh machine (Python 3.11, root, package registries only):
# Debian packages, the .venv virtual environment, torch==2.13.0 first, then the project.
# Idempotent: when nothing it depends on has changed, it checks and returns in about a second.
#
#   bash scripts/setup.sh            # everything the example and the test suite need
#   PIANOEVAL_EXTRAS=dev bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

EXTRAS="${PIANOEVAL_EXTRAS:-dev,plot,train,data,render,symbolic,transcribe,distributed}"
# Packages whose declared dependencies cannot be installed here (torchaudio, TensorFlow):
# installed with --no-deps; the runtime dependencies they really use are in the
# `transcribe` extra of pyproject.toml.
NO_DEPS_PACKAGES=("transkun==2.0.1" "basic-pitch==0.4.0")
# Debian packages the project needs at run time (rendering, browser tests, ...).
APT_PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont timgm6mb-soundfont
  csound-soundfont chromium chromium-driver)

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages ------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]+"${APT_PACKAGES[@]}"}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtual environment --------------------------------------------------------------
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { log "Python >= 3.11 is required (found $("$PY" --version))"; exit 1; }
  log "creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi

stamp_key=$( { cat pyproject.toml constraints.txt scripts/setup.sh; echo "$EXTRAS"; } | sha256sum | cut -c1-16)
stamp=".venv/.pianoeval-setup-$stamp_key"
if [ ! -f "$stamp" ] || ! .venv/bin/python -c 'import pianoeval' 2>/dev/null; then
  PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)
  log "installing torch==2.13.0 (CPU) first, so nothing later can pull another build"
  "${PIP[@]}" "torch==2.13.0"
  log "installing pianoeval[$EXTRAS] (editable)"
  "${PIP[@]}" -e ".[$EXTRAS]"
  if ((${#NO_DEPS_PACKAGES[@]})); then
    log "installing without declared dependencies: ${NO_DEPS_PACKAGES[*]}"
    "${PIP[@]}" --no-deps "${NO_DEPS_PACKAGES[@]}"
  fi
  .venv/bin/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' \
    || { log "torch is not 2.13.0 after the install: refusing to go on"; exit 1; }
  # partitura downloads a SoundFont at import when pyfluidsynth is installed, which fails
  # offline: give it Debian's copy of the very file it wants (musescore-general-soundfont).
  .venv/bin/python - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("partitura")
if spec and spec.submodule_search_locations:
    target = os.path.join(spec.submodule_search_locations[0], "assets", "MuseScore_General.sf3")
    if not os.path.exists(target):
        os.symlink("/usr/share/sounds/sf3/MuseScore_General.sf3", target)
PY
  rm -f .venv/.pianoeval-setup-*
  touch "$stamp"
  log "done"
fi
