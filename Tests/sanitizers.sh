#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer: AddressSanitizer (address) or ThreadSanitizer (thread).
#
#   Tests/sanitizers.sh address|thread
#
# Any sanitizer report fails the run. A sanitizer slows the gateway 2-15 times, which turns some timing tests (a
# 0.3 s head timeout, an `eventually` deadline) into failures while all run at once on two cores; a test that fails
# is therefore run again on its own, and only a second failure counts. Builds go to $SANITIZER_BUILD (default
# /tmp/switchyard-<sanitizer>), never to the repository's .build.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer="${1:?usage: sanitizers.sh address|thread}"
case "$sanitizer" in
address | thread) ;;
*) echo "usage: sanitizers.sh address|thread" >&2; exit 2 ;;
esac
scratch="${SANITIZER_BUILD:-/tmp/switchyard-$sanitizer}"
mkdir -p "$scratch"
# LeakSanitizer reads the Swift runtime's metadata caches as leaks; TSan goes on after a report, to list them all.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0}"
started=$(date +%s)

swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
run_tests() { swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@"; }

# Fails the run when a log holds a sanitizer report.
check_reports() {
    if grep -qE "ERROR: AddressSanitizer|WARNING: ThreadSanitizer" "$1"; then
        grep -E -A40 "ERROR: AddressSanitizer|WARNING: ThreadSanitizer" "$1" | head -200 >&2
        echo "the $sanitizer sanitizer reported a problem; the log: $1" >&2
        exit 1
    fi
}

log="$scratch/tests.log"
rm -f "$scratch"/results*.xml
status=0
run_tests --xunit-output "$scratch/results.xml" >"$log" 2>&1 || status=$?
check_reports "$log"
grep -E "^. Test run with" "$log" || true
if [ "$status" -eq 0 ]; then
    echo "the suite passed under the $sanitizer sanitizer in $(( $(date +%s) - started )) s"
    exit 0
fi

# The failed tests, as --filter patterns (suite/function, regex-escaped), from Swift Testing's xUnit file.
failed="$(python3 - "$scratch"/results*swift-testing*.xml <<'EOF'
import re, sys
import xml.etree.ElementTree as tree
for path in sys.argv[1:]:
    for case in tree.parse(path).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            print(re.escape(case.get("classname") + "/" + case.get("name")))
EOF
)" || failed=""
if [ -z "$failed" ]; then
    # It failed without a failing test: the test process itself ended (a crash).
    tail -80 "$log" >&2
    echo "the suite did not finish under the $sanitizer sanitizer; the log: $log" >&2
    exit 1
fi
echo "$(echo "$failed" | wc -l) tests failed with all running at once; each runs again alone:"
while read -r pattern; do
    rerun="$scratch/rerun.log"
    if ! run_tests --filter "$pattern" >"$rerun" 2>&1; then
        tail -60 "$rerun" >&2
        echo "$pattern fails under the $sanitizer sanitizer when run alone too" >&2
        exit 1
    fi
    check_reports "$rerun"
    grep -q "with 0 tests" "$rerun" && { echo "no test matched $pattern" >&2; exit 1; }
    echo "  passed alone: $pattern"
done <<<"$failed"
echo "the suite passed under the $sanitizer sanitizer in $(( $(date +%s) - started )) s"
