#!/usr/bin/env bash
# Writes a target's 100 MB input (a 100 MB string where the target reads one) to FILE; too big to commit.
# FUZZ_HUGE_BYTES sets another length for the string.
#
#   Tests/fuzz/huge-input.sh TARGET FILE
set -euo pipefail
target="${1:?usage: huge-input.sh TARGET FILE}"
file="${2:?usage: huge-input.sh TARGET FILE}"

string() { head -c "${FUZZ_HUGE_BYTES:-100000000}" /dev/zero | tr '\0' 'a'; }

{
    case "$target" in
    ConfigJSON) printf '{"m":{"providers":[{"name":"p","endpoint":"https://x.example/v1","model":"'; string; printf '"}]}}' ;;
    ConfigYAML) printf 'm:\n  providers:\n    - name: p\n      endpoint: https://x.example/v1\n      model: '; string; printf '\n' ;;
    JSONEdit) printf '\x03\x00\x01x{"model":"'; string; printf '","stream":true}' ;;
    SSEFramer) printf '\x01\x00data: '; string; printf '\n\n' ;;
    CronParser) printf '\x00\x00'; string ;;
    # Selectors: chat completions to Anthropic; the request's one message is the string.
    TranslateRequest) printf '\x00\x03{"model":"m","messages":[{"role":"user","content":"'; string; printf '"}]}' ;;
    # Selectors: a chat-completions client of an Anthropic upstream; one delta carries the string.
    TranslateStream) printf '\x00\x03event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'; string; printf '"}}\n\n' ;;
    TranslateAnswer) printf '\x00\x03{"id":"x","type":"message","role":"assistant","content":[{"type":"text","text":"'; string; printf '"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}' ;;
    # Split control 0 (one read); a chat request whose body is the string, far past max_request_body_mb.
    DataPlaneHead) printf '\x00POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n' "$(( ${FUZZ_HUGE_BYTES:-100000000} ))"; string ;;
    *) echo "no 100 MB input for $target" >&2; exit 1 ;;
    esac
} >"$file"
