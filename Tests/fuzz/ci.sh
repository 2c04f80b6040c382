#!/usr/bin/env bash
# CI: builds every fuzz target and runs each for a short while (FUZZ_CI_SECONDS, default 30) from its committed
# seeds, plus its huge input at 10 MB (FUZZ_HUGE_BYTES; run.sh's default of 100 MB takes a translation target
# about 100 s under ASan), one target at a time, so a parser regression shows at once. Exits non-zero on
# the first target that crashes, hangs, leaks memory past the limit or breaks an invariant (a fixed -seed, so a
# run explores the same way on every machine of the same speed); its input is then in
# $FUZZ_BUILD/artifacts/TARGET/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
seconds="${FUZZ_CI_SECONDS:-30}"
export FUZZ_HUGE_BYTES="${FUZZ_HUGE_BYTES:-10000000}"
started=$(date +%s)

"$here/build.sh"
for target in $(cd "$here/Sources" && ls -d */ | tr -d / | grep -v '^FuzzSupport$'); do
    echo "== $target"
    log="${FUZZ_BUILD:-/tmp/fuzzbuild}/ci-$target.log"
    status=0
    FUZZ_SKIP_BUILD=1 "$here/run.sh" "$target" "$seconds" -seed=1 >"$log" 2>&1 || status=$?
    grep -E '^(Done|stat::average_exec_per_sec|Executed)|invariant|ERROR|SUMMARY|failed' "$log" || true
    test "$status" -eq 0 || { tail -60 "$log" >&2; echo "fuzz target $target failed; its log: $log" >&2; exit 1; }
done
echo "all fuzz targets passed in $(( $(date +%s) - started )) s"
