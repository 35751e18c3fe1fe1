#!/usr/bin/env bash
# agcnn set-up in one command, for a fresh Debian 12 machine:
#   bash tools/bootstrap.sh demo [demo flags]   install what is missing, build, run the demo
#   bash tools/bootstrap.sh test                install what is missing, build, run every test
# Missing Debian packages are installed with apt-get (through sudo when not root). The build is
# a Release build in build/ (BUILD_DIR overrides); CUDA parts are built when a CUDA toolkit is
# found (at /usr/local/cuda on the project's machines), as the module build/libagcnn_cuda.so that
# the programs load only for a CUDA device; AGCNN_CUDA=OFF skips them.
set -euo pipefail

mode="${1:-}"
case "$mode" in
  demo|test) shift ;;
  *) echo "usage: bash tools/bootstrap.sh demo|test [args...]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
packages=(g++ cmake make libeigen3-dev doctest-dev libstb-dev nlohmann-json3-dev libcli11-dev libgdcm-dev
          libopenmpi-dev openmpi-bin)

bash "$root/tools/install-missing-packages.sh" "${packages[@]}"

if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAGCNN_CUDA="${AGCNN_CUDA:-ON}" >/dev/null
cmake --build "$build" -j "$(nproc)"

if [ "$mode" = demo ]; then
  exec "$build/agcnn" demo "$@"
fi
cd "$build"
exec ctest --output-on-failure --timeout 1500 "$@"
