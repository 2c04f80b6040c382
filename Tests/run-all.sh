#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine:
#  1. the official OpenAI, Anthropic and Google GenAI Python SDKs and the Codex CLI, which the end-to-end tests drive
#     the gateway with (Codex pinned: its requests change between releases), and jsonschema with PyYAML, which check
#     the config schema;
#  2. the release binary exactly as the Dockerfile builds it, which the Docker-parity test starts and probes;
#  3. every Swift test;
#  4. every fuzz target for 20 s from its committed seeds, and on its 10 MB input (Tests/fuzz/ci.sh);
#  5. every Swift test again under one sanitizer (Tests/sanitizers.sh), taking turns by commit: AddressSanitizer when
#     the number of commits is even, ThreadSanitizer when it is odd (SANITIZER=address|thread|none chooses).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check openai anthropic google-genai openai-codex-cli-bin==0.163.0 jsonschema pyyaml
swift build -c release --static-swift-stdlib --product switchyard
export SWITCHYARD_STATIC_BINARY="$(swift build -c release --static-swift-stdlib --show-bin-path)/switchyard"
swift test
FUZZ_CI_SECONDS="${FUZZ_CI_SECONDS:-20}" Tests/fuzz/ci.sh
commits="$(git rev-list --count HEAD 2>/dev/null || echo 0)"
sanitizer="${SANITIZER:-$([ $((commits % 2)) -eq 0 ] && echo address || echo thread)}"
[ "$sanitizer" = none ] || Tests/sanitizers.sh "$sanitizer"
