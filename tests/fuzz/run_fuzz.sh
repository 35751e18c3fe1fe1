#!/usr/bin/env bash
# Builds the libFuzzer targets of the weight readers and runs each for SECONDS (default 60).
#
#   tests/fuzz/run_fuzz.sh [SECONDS] [BUILD_DIR]       (from anywhere; needs clang++ >= 14)
#
# Targets: fuzz_zip (io/zip_reader.hpp), fuzz_pickle (io/pickle_reader.hpp + tensor views),
# fuzz_safetensors (io/safetensors.hpp), fuzz_weights (io/torch_file.hpp, all formats).
# Seeds come from corpus/<target>/ (committed, small), tokens from weights.dict (zip signatures,
# PyTorch names, the allowed pickle globals); what the fuzzer finds goes to
# BUILD_DIR/corpus/<target>/, so the committed corpus stays as it is. A crash stops the run with
# the reproducer in BUILD_DIR/crash-*; exit status non-zero.
set -euo pipefail
seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${2:-$root/build-fuzz}
mkdir -p "$build"
cd "$build"
for target in fuzz_zip fuzz_pickle fuzz_safetensors fuzz_weights; do
    clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root/include" -I/usr/include/eigen3 "$here/$target.cpp" -o "$target"
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    "./$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -dict="$here/weights.dict" \
        -print_final_stats=1 "corpus/$target" "$here/corpus/$target" 2>&1 |
        grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)" || true
    test "${PIPESTATUS[0]}" -eq 0
done
