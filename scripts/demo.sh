#!/usr/bin/env bash
# make demo: the whole mission on the local site, as at a factory. The site has one real node
# (node-1, 10.20.0.11) and the engineer's laptop (10.20.0.100), each in a network namespace
# of its own; pulumi and `airgap serve` run on the laptop.
#   1. `airgap serve` verifies the signed node bundle and serves it over TLS from a bootstrap CA;
#      the node's containerd gets the stack's bootstrap mirror patch, with the laptop last and
#      its CA
#   2. the first `pulumi up`: the stack generates the site CA and the pull and push identities,
#      the registry's own image comes from the laptop, the registry runs on node-1 (TLS,
#      read-only pull endpoint, push endpoint for the push identity only), and the stack
#      pushes the bundle's images into it as the push identity
#   3. node-1 gets the full patch (the CA and the pull credentials, a secret output; no
#      laptop: the registry is Ready); the second `pulumi up` drops bootstrap.endpoint;
#      `airgap serve` stops (and on every other way out of this script)
#   4. a pod of docker.io/factory/app:1 starts on node-1 by its original name, from the registry
#   5. a second preview changes nothing
# Without root (no real node) it converges the dev stack's objects only and says so.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"

say() { printf '\n==> %s\n' "$*"; }
site() { go run ./tests/localsite "$@" --dir "$SITE_DIR"; }

say "starting the local site in $SITE_DIR"
site up
export KUBECONFIG=$SITE_DIR/kubeconfig
if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root for the real node (network namespaces, kubelet, containerd)." >&2
	exit 1
fi
eval "$(site env)"
laptop() { nsenter --net="/run/netns/$LAPTOP_NETNS" -- "$@"; }

# The node images (registry, pause, factory app) were built offline by make setup.
ln -sfn "$AIRGAP_CACHE/node-bundle" .state/node-bundle
ln -sfn "$AIRGAP_CACHE/node-bundle.pub" .state/node-bundle.pub

say "state backend $PULUMI_BACKEND_URL"
pulumi stack select dev 2>/dev/null || pulumi stack init dev

# airgap serve stops on every way out of this script: an error, Ctrl-C, a kill. It is started
# directly (nsenter execs it), so $! is its own process, not a subshell that would leave it
# running when killed.
serve=
stop_serve() {
	if [ -n "$serve" ]; then
		kill "$serve" 2>/dev/null || true
		wait "$serve" 2>/dev/null || true
		serve=
	fi
}
trap stop_serve EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "the laptop ($LAPTOP_IP) verifies the bundle (signature, every blob) and serves it read-only over TLS: airgap serve"
nsenter --net="/run/netns/$LAPTOP_NETNS" -- .state/bin/airgap serve --bundle .state/node-bundle \
	--trusted-key .state/node-bundle.pub --tls-dir .state/bootstrap-tls --addr "$LAPTOP_IP:5000" >.state/serve.log 2>&1 &
serve=$!
for _ in $(seq 120); do
	grep -q 'read-only on https://' .state/serve.log && break
	if ! kill -0 "$serve" 2>/dev/null; then
		cat .state/serve.log >&2
		echo "airgap serve refused to serve the node bundle (above)" >&2
		exit 1
	fi
	sleep 0.5
done
grep -E 'verified|bootstrap CA' .state/serve.log | sed 's/^/  /'
# The nodes trust the laptop by the bootstrap CA it generated, carried in the bootstrap patch.
pulumi config set -s dev --path bootstrap.endpoint "https://$LAPTOP_IP:5000"
pulumi config set -s dev --path bootstrap.ca .state/bootstrap-tls/ca.crt

say "node-1's containerd gets the stack's bootstrap mirror patch (airgap site patch -s dev), as Talos applies it"
.state/bin/airgap site patch -s dev | tee .state/mirror-patch.yaml | grep -E 'name:|url:' | head -8
echo "  ..."
site mirrors --patch .state/mirror-patch.yaml

# From here on the patch holds the nodes' pull credentials: readable by its owner only. (Only
# this file: the site's daemons must not inherit a umask that hides their files from pods.)
patch() { rm -f .state/mirror-patch.yaml && (umask 077 && .state/bin/airgap site patch -s dev >.state/mirror-patch.yaml); }

say "first pulumi up, on the laptop: the registry bootstraps from the laptop, then receives the images"
laptop pulumi up -s dev --yes --refresh --skip-preview --policy-pack "$POLICY_PACK"
echo "the laptop served $(grep -c ' /v2/.*/manifests/.* 200 ' .state/serve.log || true) manifest requests during bootstrap"

say "node-1 gets the full patch: the site CA and the pull identity (the stack's secret output talosMirrorPatch)"
patch
grep -E 'kind: Registry(TLS|Auth)Config' .state/mirror-patch.yaml | sort | uniq -c
site mirrors --patch .state/mirror-patch.yaml

say "second pulumi up without bootstrap.endpoint: the mirrors no longer name the laptop"
pulumi config rm -s dev bootstrap
patch
site mirrors --patch .state/mirror-patch.yaml
laptop pulumi up -s dev --yes --skip-preview --policy-pack "$POLICY_PACK"
stop_serve
echo "airgap serve stopped: the laptop is gone"

say "a pod of docker.io/factory/app:1 on node-1, pulled by its original name from the in-cluster registry"
site app demo-app docker.io/factory/app:1

say "image digests in the site registry (stack output imageDigests)"
pulumi stack output -s dev imageDigests

say "the registry refuses writes from anyone but the push identity: an anonymous push to the push endpoint"
laptop curl -s -o /dev/null -w '  POST /v2/docker.io/library/intruder/blobs/uploads/ -> %{http_code}\n' \
	--cacert <(pulumi stack output -s dev registryCA) -X POST "https://10.20.0.11:$(pulumi stack output -s dev registryPushNodePort)/v2/docker.io/library/intruder/blobs/uploads/" || true

say "pulumi preview -s dev (expect no changes)"
laptop pulumi preview -s dev --expect-no-changes --policy-pack "$POLICY_PACK"
say "converged. The app pod is demo-app in namespace default. Stop the site with: make site-down"
