#!/usr/bin/env bash
# The release build of the osp executable, in one place: docker/Dockerfile RUNs this script and CI
# runs it too (integration/run-tests.sh), so the image ships a binary built exactly the way CI
# builds it.
#
#   docker/build-release.sh [DEST]      DEST defaults to .build/install/osp
#
# --static-swift-stdlib links the Swift runtime and Foundation into the binary: the runtime image
# then needs only libcurl, hiredis and the C/C++ runtime of a slim Debian.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest=${1:-.build/install/osp}
flags=(-c release --product osp --static-swift-stdlib)

swift build "${flags[@]}"
install -D -m 0755 "$(swift build "${flags[@]}" --show-bin-path)/osp" "$dest"
