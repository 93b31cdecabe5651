#!/usr/bin/env bash
# Runs every osp test: the Swift unit tests, then the integration suite (real clients through a
# real osp against a signature-verifying S3 backend). Installs what it needs first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash integration/setup.sh
swift build --build-tests
swift test --skip-build
cd integration
python3 -m pytest
