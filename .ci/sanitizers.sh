#!/usr/bin/env bash
# CI: the tests that take outside input, under AddressSanitizer + UndefinedBehaviorSanitizer, in
# one CPU build that also records line coverage (CMake option AGCNN_SANITIZE: -O1 -g
# -fsanitize=address,undefined --coverage); then the line coverage of include/agcnn/ they reach
# (gcovr), the requirements' traceability check and the SOUP list of this machine.
#
# Which test: test_cli, the commands through an instrumented agcnn and agcnn-convert (bad and
# hostile input, bad flags, output = input, NaN weights and boxes, damaged checkpoints, moved run
# folders, DICOM predict, eval and verify); its longest cases are left out, below.
# Measured CPU seconds to compile under these flags (2-core AMD EPYC): agcnn 271, test_clinical
# 123, test_cli 102, agcnn_c 70, agcnn-convert 62 (an Intel Xeon: agcnn 233-275). To keep .ci/run
# under 20 minutes the job builds agcnn, agcnn-convert and test_cli only, as one target
# (cli_tests, tests/CMakeLists.txt) so that make compiles them side by side: given as three
# targets, make built them one after the other (535 s on the Xeon, 2026-12-02; as one, 268 s
# there the next day): test_clinical (metrics and the manifest: buffers the
# engine made and files it wrote; eval and verify reach the same code through test_cli), the C
# API (its cases are left out), test_data (its readers are reached through test_cli's commands
# and the fuzz targets), test_convert (its every-truncation, every-byte corruption loops took more
# than 6.5 minutes of CPU under ASan; at full speed that is the fuzz targets' job, tests/fuzz),
# test_engine and the numeric tests (test_ops, test_reference, test_model, test_cpu_kernels,
# test_cuda_logic), whose inputs are buffers the engine made itself, run in the Release suite.
# A sanitizer finding fails the job (halt_on_error), as does a failed test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$(date +%s)
build="${SANITIZE_BUILD_DIR:-build-sanitize}"
tests=(test_cli)

bash tools/install-missing-packages.sh gcovr

# Without MPI: OpenMPI keeps allocations past exit that LeakSanitizer would report, and this job
# runs no multi-process test (the Release suite's test_distributed does).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG= -DAGCNN_CUDA=OFF -DAGCNN_MPI=OFF -DAGCNN_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target cli_tests
built=$(date +%s)
find "$build" -name '*.gcda' -delete

export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# test_cli without its longest cases (whole training runs that the Release suite already runs):
# the export/C-example pair, the synthetic DICOM data set end to end, the thread-count
# determinism pair, the kill -9 run, the moved run folder (27 s here) and the small run's left-out
# last batch (11 s): training on files the engine made, where the sanitizers find nothing the
# hostile-input cases would not.
# OMP_WAIT_POLICY set here spares every instrumented agcnn its start-up twice (it re-executes
# itself once to set it when unset; the Release suite runs that path).
(cd "$build/tests" && OMP_WAIT_POLICY=passive \
  ./test_cli -tce="agcnn export*,the C example*,DICOM: a synthetic*,one or two threads*,kill -9*,a run folder moved*,an ordinary small run*")
tested=$(date +%s)

echo "sanitizers: line coverage of include/agcnn/ by ${tests[*]}:"
# gcovr 5.2 (Debian 12) asserts when one header function reaches it with two line numbers (from
# two translation units); its own gcov parser merges such records leniently, and so does this
# call. Line figures are not affected.
/usr/bin/python3 - --root . --filter 'include/agcnn/' --object-directory "$build" -j "$(nproc)" --print-summary \
  --output "$build/coverage.txt" <<'PY'
import sys
import gcovr.merging
gcovr.merging.DEFAULT_MERGE_OPTIONS.ignore_function_lineno = True
from gcovr.__main__ import main
sys.argv[0] = "gcovr"
sys.exit(main())
PY
echo "sanitizers: per-file line coverage in $build/coverage.txt (headers the chosen tests compile)"

bash tools/traceability.sh --check
bash tools/soup.sh "$build" | sed -n '/^| Component/,$p'
echo "sanitizers: build $((built - started)) s, tests $((tested - built)) s, total $(( $(date +%s) - started )) s"
