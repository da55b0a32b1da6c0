#!/usr/bin/env bash
# Build the one-folder desktop bundle into dist/emobrowser/ and check it with --self-test.
# Usage: bash packaging/build.sh   (from anywhere; needs python3.11 with venv)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
python3 -m venv build/venv
build/venv/bin/python -m pip install -q --upgrade pip
build/venv/bin/python -m pip install -q ".[package]"
build/venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/emobrowser.spec
end=$(date +%s)
echo "bundle: dist/emobrowser ($(du -sh dist/emobrowser | cut -f1)), built in $((end - start)) s"
EMOBROWSER_HOME="$(mktemp -d)" QT_QPA_PLATFORM=offscreen dist/emobrowser/emobrowser --self-test
