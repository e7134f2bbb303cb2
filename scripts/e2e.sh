#!/usr/bin/env bash
# The end-to-end suite: starts its own local site in a temp dir (tests/harness), drives the real
# pulumi CLI against it, and ends with one line of counts.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"
log=$(mktemp)
go test -tags e2e -count=1 -v -timeout 40m ./tests/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
rm -f "$log"
echo "e2e: $passed passed, $failed failed"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "e2e: go test exited $status without a failing test (build error or timeout above)"
fi
exit "$status"
