#!/usr/bin/env bash
# CI: the inference-only build (AGCNN_INFERENCE_ONLY) cross-compiled for aarch64 with Debian's
# g++-aarch64-linux-gnu; its tests (tests/test_embedding.cpp: Predictor, C API, C example) run
# under qemu-aarch64; then the C example prints its numbers for the same narrow model and images
# on x86 (the main build, BUILD_DIR, default build/) and on aarch64, and every number must agree
# within 1e-5. About 2-3 minutes on 2 cores (two translation units cross-compiled).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
x86_build="${BUILD_DIR:-$root/build}"
arm_build="${ARM_BUILD_DIR:-$root/build-aarch64}"

packages=(g++-aarch64-linux-gnu qemu-user cmake libeigen3-dev libstb-dev doctest-dev)
bash "$root/tools/install-missing-packages.sh" "${packages[@]}"

cmake -S "$root" -B "$arm_build" -DCMAKE_BUILD_TYPE=Release -DAGCNN_INFERENCE_ONLY=ON \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$arm_build" -j "$(nproc)" --target test_embedding agcnn_c_predict
# ELF e_machine (bytes 18-19) 0xb7 = EM_AARCH64
[ "$(od -An -tx1 -j18 -N2 "$arm_build/agcnn_c_predict" | tr -d ' ')" = b700 ] ||
  { echo "aarch64: $arm_build/agcnn_c_predict is not an aarch64 program" >&2; exit 1; }
(cd "$arm_build" && ctest --output-on-failure --timeout 300)   # through qemu (CMAKE_CROSSCOMPILING_EMULATOR)

# The same model file and images through both builds' C example.
[ -x "$x86_build/agcnn_c_predict" ] || cmake --build "$x86_build" -j "$(nproc)" --target agcnn_c_predict
model="${TMPDIR:-/tmp}/agcnn-test-embedding/narrow.safetensors"   # written by test_embedding
images=("${TMPDIR:-/tmp}/agcnn-test-embedding/example.png")
for f in "$root"/../shared/data/nih-sample/images-256/*.png; do [ -e "$f" ] && images+=("$f"); done
: > "$arm_build/x86.txt"
: > "$arm_build/aarch64.txt"
for image in "${images[@]}"; do
  "$x86_build/agcnn_c_predict" "$model" "$image" >> "$arm_build/x86.txt"
  qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm_build/agcnn_c_predict" "$model" "$image" >> "$arm_build/aarch64.txt"
done
paste -d '\n' "$arm_build/x86.txt" "$arm_build/aarch64.txt" | awk -F, '
  NR % 2 == 1 { n = split($0, x86, ","); key = $1 "," $2; next }
  {
    if (split($0, arm, ",") != n || arm[1] "," arm[2] != key) { print "aarch64: lines differ: " key; bad = 1; next }
    for (i = 3; i <= n; ++i) {
      d = x86[i] - arm[i]; if (d < 0) d = -d
      if (d > worst) worst = d
      if (d > 1e-5) { print "aarch64: " key " field " i - 2 ": x86 " x86[i] ", aarch64 " arm[i]; bad = 1 }
    }
    ++lines
  }
  END { printf "aarch64: %d lines of %d images agree with x86 (largest difference %.3g)\n", lines, lines / 5, worst; exit bad }'
