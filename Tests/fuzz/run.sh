#!/usr/bin/env bash
# Builds one fuzz target and runs it for SECONDS on one core, then feeds it its 100 MB input once
# (FUZZ_HUGE_BYTES: another size).
#
#   Tests/fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# The committed seeds (corpus/TARGET) are read, never written: inputs libFuzzer finds go to
# $FUZZ_BUILD/corpus/TARGET, crash/leak/timeout files to $FUZZ_BUILD/artifacts/TARGET/. Set FUZZ_SKIP_BUILD=1 to
# use the binary built last. Exits non-zero when the target finds a crash, leak, timeout or broken invariant.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
build="${FUZZ_BUILD:-/tmp/fuzzbuild}"
target="${1:?usage: run.sh TARGET SECONDS [libFuzzer flags...]}"
seconds="${2:?usage: run.sh TARGET SECONDS [libFuzzer flags...]}"
shift 2

[ "${FUZZ_SKIP_BUILD:-0}" = 1 ] || "$here/build.sh" "$target"
binary="$build/bin/$target"
corpus="$build/corpus/$target"
artifacts="$build/artifacts/$target/"
mkdir -p "$corpus" "$artifacts"

# The Swift runtime's own crash reporter would wait on the crashing process; libFuzzer and ASan report instead.
# No leak detection: the Swift runtime's metadata caches and lazily made globals read as leaks to LSan.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=0}"

"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 -detect_leaks=0 \
    -artifact_prefix="$artifacts" "$@" "$corpus" "$here/corpus/$target"

# The 100 MB case: one run, no fuzzing; it must end without a crash within the memory limit and the timeout.
mkdir -p "$build/huge"
huge="$build/huge/$target"
"$here/huge-input.sh" "$target" "$huge"
if ! "$binary" -timeout=300 -rss_limit_mb=2560 -artifact_prefix="$artifacts" "$huge" >"$huge.log" 2>&1; then
    tail -40 "$huge.log" >&2
    echo "$target failed on its 100 MB input" >&2
    exit 1
fi
grep -h 'Executed' "$huge.log"
