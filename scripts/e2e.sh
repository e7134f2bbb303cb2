#!/usr/bin/env bash
# The end-to-end suite: starts its own local site in a temp dir (tests/harness), drives the real
# pulumi CLI against it, and ends with one line of counts. Then, where the machine allows it,
# the whole suite runs again inside a network namespace with only loopback up (unshare -n),
# which proves it needs no network at all.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"

# run_suite <label> [command prefix...]: runs the suite, prints "<label>: N passed, M failed".
run_suite() {
	local label=$1 log status passed failed
	shift
	log=$(mktemp)
	"$@" go test -tags e2e -count=1 -v -timeout 40m ./tests/ 2>&1 | tee "$log"
	status=${PIPESTATUS[0]}
	passed=$(grep -cE '^\s*--- PASS' "$log")
	failed=$(grep -cE '^\s*--- FAIL' "$log")
	rm -f "$log"
	echo "$label: $passed passed, $failed failed"
	if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
		echo "$label: go test exited $status without a failing test (build error or timeout above)"
	fi
	return "$status"
}

# Every run's site lives under one directory; whatever a crashed or timed-out run leaves there
# (the suite stops its site itself otherwise) is stopped by PID file on the way out.
AIRGAP_E2E_TMP=$(mktemp -d -t airgap-e2e-runs.XXXXXX)
export AIRGAP_E2E_TMP
cleanup() {
	local site
	for site in "$AIRGAP_E2E_TMP"/*/site; do
		[ -d "$site" ] && go run ./tests/localsite down --dir "$site" >/dev/null 2>&1
	done
	rm -rf "$AIRGAP_E2E_TMP"
}
trap cleanup EXIT

# Compile the suite first, online: inside the namespace nothing may be downloaded.
go test -tags e2e -count=1 -run '^$' ./tests/ >/dev/null || exit 1

run_suite e2e
status=$?

if [ "${AIRGAP_SKIP_OFFLINE:-}" = 1 ]; then
	echo "zero-egress run: skipped (AIRGAP_SKIP_OFFLINE=1)"
elif ! command -v unshare >/dev/null || ! unshare -n true 2>/dev/null; then
	echo "zero-egress run: skipped (this machine cannot create a network namespace: unshare -n needs root or user namespaces)"
else
	echo
	echo "== the same suite with no network: a namespace with only loopback up =="
	# GOFLAGS/GOPROXY keep go from trying the module proxy; the build cache is warm.
	run_suite "e2e (no network)" unshare -n sh -c 'ip link set lo up && exec env GOFLAGS=-mod=readonly GOPROXY=off "$@"' sh
	offline=$?
	[ "$status" -ne 0 ] || status=$offline
fi
exit "$status"
