#!/usr/bin/env bash
# The end-to-end suite: starts its own local site in a temp dir (tests/harness), drives the real
# pulumi CLI against it, and ends with one line of counts. It runs once, inside a network
# namespace with only loopback up (unshare -n), which proves it needs no network at all.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"

# run_suite <label> [command prefix...]: runs the suite, prints "<label>: N passed, M failed".
run_suite() {
	local label=$1 log status passed failed
	shift
	log=$(mktemp)
	# Four tests at a time on two cores: they mostly wait (pulumi's engine, the API server,
	# retries, paced uploads); with two at a time the suite used 0.7 of a core on average.
	"$@" go test -tags e2e -count=1 -v -parallel 4 -timeout 40m ./tests/ 2>&1 | tee "$log"
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

# One pass, inside a network namespace with only loopback up: that proves the suite's
# correctness and that it needs no network at all, at once. Where the machine cannot make one,
# the suite runs once with the network and says so.
if [ "${AIRGAP_E2E_NETWORK:-}" = 1 ]; then
	echo "zero-egress: not checked (AIRGAP_E2E_NETWORK=1 runs the suite with the machine's network)"
	run_suite e2e
elif ! command -v unshare >/dev/null || ! unshare -n true 2>/dev/null; then
	echo "zero-egress: not checked (this machine cannot create a network namespace: unshare -n needs root or user namespaces)"
	run_suite e2e
else
	echo "== the suite with no network: a namespace with only loopback up =="
	# GOFLAGS/GOPROXY keep go from trying the module proxy; the build cache is warm.
	run_suite "e2e (no network)" unshare -n sh -c 'ip link set lo up && exec env GOFLAGS=-mod=readonly GOPROXY=off "$@"' sh
fi
exit $?
