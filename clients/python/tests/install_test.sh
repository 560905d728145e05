#!/usr/bin/env bash
# `pip install clients/python` without a network: into a fresh virtual environment, with pip
# forbidden to reach any index; then the installed package imports and is typed (py.typed).
# Usage: clients/python/tests/install_test.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-index --no-cache-dir "$here"
cd "$venv"
"$venv/bin/python" -c '
import importlib.resources, liverec
assert liverec.Client and liverec.LiverecError, "the package exports Client and LiverecError"
assert importlib.resources.files("liverec").joinpath("py.typed").is_file(), "py.typed missing"
print("installed liverec", liverec.__version__)
'
