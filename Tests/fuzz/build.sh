#!/usr/bin/env bash
# Builds libFuzzer targets: SwitchyardServer, SwitchyardCore and their dependencies once (release, ASan, coverage
# for libFuzzer, testable), then each target's file with the shared support file, linked against those objects.
#
#   Tests/fuzz/build.sh [TARGET...]     (no target: all of them)
#
# The gateway's modules are no products of the root package, so a nested package cannot depend on them; the
# objects of a `swift build --target SwitchyardServer` are linked directly instead. Builds go to $FUZZ_BUILD (default
# /tmp/fuzzbuild), never to the repository's .build.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${FUZZ_BUILD:-/tmp/fuzzbuild}"
core="$build/core"
release="$core/release"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=($(cd "$here/Sources" && ls -d */ | tr -d / | grep -v '^FuzzSupport$'))
fi

mkdir -p "$build"
if ! swift build --package-path "$root" --scratch-path "$core" -c release --target SwitchyardServer \
    --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing >"$build/core-build.log" 2>&1; then
    grep -v '^\[' "$build/core-build.log" | tail -40 >&2
    echo "SwitchyardServer did not build; the log: $build/core-build.log" >&2
    exit 1
fi

# The C modules the Swift modules import: SwiftPM's generated module maps, or a target's own include/ one.
module_maps=()
for dir in "$release"/*.build; do
    name="$(basename "$dir" .build)"
    if [ -f "$dir/module.modulemap" ]; then
        module_maps+=(-Xcc "-fmodule-map-file=$dir/module.modulemap")
    else
        for map in "$core"/checkouts/*/Sources/"$name"/include/module.modulemap; do
            [ -f "$map" ] && module_maps+=(-Xcc "-fmodule-map-file=$map")
        done
    fi
done
# Every object of that build (file names may hold spaces, so they go through a response file).
find "$release"/ -path '*.build/*' -name '*.o' | sed 's/.*/"&"/' >"$build/objects.rsp"

mkdir -p "$build/bin"
for target in "${targets[@]}"; do
    source="$here/Sources/$target/$target.swift"
    test -f "$source" || { echo "no fuzz target $target" >&2; exit 1; }
    rm -f "$build/bin/$target"
    swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "$target" -I "$release/Modules" \
        "${module_maps[@]}" "$here/Sources/FuzzSupport/FuzzSupport.swift" "$source" "@$build/objects.rsp" \
        -o "$build/bin/$target" 2>&1 | grep -v 'Cannot export local symbol' || true
    test -x "$build/bin/$target" || { echo "$target did not build" >&2; exit 1; }
    echo "built $build/bin/$target"
done
