"""The assertion helper the end-to-end scripts share: the first failed check ends the script with its message."""

import sys

passed = 0


def check(condition, message):
    global passed
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    passed += 1


def report():
    print(f"{passed} checks passed")
