#!/usr/bin/env bash
# Builds the pinned toolchain and the local test bed from the Go module proxy and Debian packages.
#
#   make setup                      (or: scripts/setup.sh [tool...])
#
# Everything lands in $AIRGAP_CACHE (default ~/.cache/airgap-site), outside the repository, and is
# rebuilt only when the pin (tools/<name>/go.mod + go.sum + build flags) changes. Each tool has a
# wrapper module under tools/ with a committed go.sum, so a build is reproducible and verified.
# Cold on 2 cores: 23 min measured on an idle machine (kube-apiserver 164 s, pulumi-resource-kubernetes 384 s), up to 70 min when other builds share the cores; warm: seconds.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${AIRGAP_CACHE:-$HOME/.cache/airgap-site}
BIN=$CACHE/bin
# Provider plugins are kept off PATH: the engine would otherwise take them from PATH (with a
# warning) instead of the copies installed into PULUMI_HOME.
PROVIDERS=$CACHE/providers
SRC=$CACHE/src
PULUMI_VERSION=v3.274.1
LANGUAGE_GO_VERSION=v3.66.0
K8S_PROVIDER_VERSION=4.25.0
# The proxy serves provider/v4 only as this pseudo-version, which is the v4.25.0 source.
K8S_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199
K8S_VERSION=1.33.13
TOXIPROXY_VERSION=v2.5.0
AIRGAP_PROVIDER_VERSION=$(cat "$REPO/provider/contract/VERSION") # what the plugin reports (package contract embeds it)
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN" "$PROVIDERS" "$SRC"

log() { printf '[setup] %s\n' "$*"; }

# pin <dir> <extra...>: a fingerprint of what a tool is built from.
pin() {
	local dir=$REPO/tools/$1
	shift
	cat "$dir/go.mod" "$dir/go.sum" <(printf '%s\n' "$@") | sha256sum | cut -c1-16
}

# fresh <binary> <fingerprint>: true when the binary exists and was built from that fingerprint.
fresh() { [ -x "$BIN/$1" ] && [ "$(cat "$(pinfile "$1")" 2>/dev/null)" = "$2" ]; }

# pinfile <binary>: where the fingerprint of a built binary is kept (beside it, as .<name>.pin).
pinfile() { echo "$(dirname "$BIN/$1")/.$(basename "$1").pin"; }

# build <binary> <wrapper dir> <package> <ldflags>: go build inside a wrapper module.
build() {
	local name=$1 dir=$2 pkg=$3 ldflags=$4 fp start=$SECONDS
	fp=$(pin "$dir" "$ldflags")
	if fresh "$name" "$fp"; then
		log "$name is up to date"
		return
	fi
	log "building $name from $pkg (tools/$dir) ..."
	go build -C "$REPO/tools/$dir" -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg"
	mv "$BIN/$name.tmp" "$BIN/$name"
	echo "$fp" >"$(pinfile "$name")"
	log "built $name in $((SECONDS - start)) s"
}

debian_packages() {
	local missing=()
	command -v etcd >/dev/null || missing+=(etcd-server)
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	command -v ip >/dev/null || missing+=(iproute2) # the site network namespaces; the zero-egress run
	[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins) # the real node's pod network
	command -v iptables >/dev/null || missing+=(iptables)                 # kube-proxy on the real node
	command -v skopeo >/dev/null || missing+=(skopeo) # a peer in the copy benchmark
	if [ ${#missing[@]} -eq 0 ]; then
		log "Debian packages present (etcd, containerd, runc, iproute2, CNI plugins, iptables, skopeo)"
		return
	fi
	log "installing Debian packages: ${missing[*]}"
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	# Debian starts a package's service on install unless policy-rc.d says no (exit 101); the
	# harness runs its own private instances instead.
	local made_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
	[ $made_policy = 0 ] || $sudo rm -f /usr/sbin/policy-rc.d
}

pulumi_cli() {
	build pulumi pulumi-cli github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
		"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
}

language_go() {
	build pulumi-language-go pulumi-language-go github.com/pulumi/pulumi/sdk/v3/go/pulumi-language-go \
		"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANGUAGE_GO_VERSION"
}

# The provider's main package embeds schema files its Makefile generates; they are not in the
# module zip, so the main package is copied from the module cache and generated in $SRC.
kubernetes_provider() {
	local name=pulumi-resource-kubernetes mod=github.com/pulumi/pulumi-kubernetes/provider/v4
	local ldflags="-s -w -X $mod/pkg/version.Version=$K8S_PROVIDER_VERSION" fp start=$SECONDS
	fp=$(pin pulumi-kubernetes "$ldflags")
	if [ -x "$PROVIDERS/$name" ] && [ "$(cat "$PROVIDERS/.$name.pin" 2>/dev/null)" = "$fp" ]; then
		log "$name is up to date"
		return
	fi
	log "building $name $K8S_PROVIDER_VERSION (about 10 min cold, 4.5 GB RAM) ..."
	local dir work=$SRC/pulumi-kubernetes
	dir=$(go mod download -json "$mod@$K8S_PROVIDER_MODULE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	rm -rf "$work" && mkdir -p "$work/cmd/$name"
	cp "$REPO/tools/pulumi-kubernetes/go.mod" "$REPO/tools/pulumi-kubernetes/go.sum" "$work/"
	cp "$dir/cmd/$name"/{main.go,generate.go,schema.json,terraform-mapping.json} "$work/cmd/$name/"
	chmod -R u+w "$work"
	(cd "$work/cmd/$name" && VERSION=$K8S_PROVIDER_VERSION go run generate.go && rm -f schema.json terraform-mapping.json)
	go build -C "$work" -trimpath -ldflags "$ldflags" -o "$PROVIDERS/$name.tmp" ./cmd/$name
	mv "$PROVIDERS/$name.tmp" "$PROVIDERS/$name"
	echo "$fp" >"$PROVIDERS/.$name.pin"
	log "built $name in $((SECONDS - start)) s"
}

kubernetes_control_plane() { # and the real node's kubelet and kube-proxy
	local minor=${K8S_VERSION#*.}
	minor=${minor%%.*}
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
	ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
		build $c kubernetes k8s.io/kubernetes/cmd/$c "$ldflags"
	done
}

test_bed_tools() {
	build registry distribution github.com/distribution/distribution/v3/cmd/registry "-s -w"
	build versitygw versitygw github.com/versity/versitygw/cmd/versitygw "-s -w"
	build crane go-containerregistry github.com/google/go-containerregistry/cmd/crane "-s -w"
	build crictl cri-tools sigs.k8s.io/cri-tools/cmd/crictl "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v1.37.0"
	build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-s -w"
	# The factory's link in the day-2 tests: a TCP proxy whose toxics throttle, delay and cut.
	build toxiproxy-server toxiproxy github.com/Shopify/toxiproxy/v2/cmd/server \
		"-s -w -X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION"
}

# node_containerd builds containerd and its runc shim of the line Talos v1.12/v1.13 ship (2.2) for the
# real node, into $BIN/node-containerd (off PATH: the loopback containerd stays Debian's). runc
# itself is Debian's.
NODE_CONTAINERD_VERSION=v2.2.9
node_containerd() {
	local ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$NODE_CONTAINERD_VERSION"
	mkdir -p "$BIN/node-containerd"
	build node-containerd/containerd containerd github.com/containerd/containerd/v2/cmd/containerd "$ldflags"
	build node-containerd/containerd-shim-runc-v2 containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 "$ldflags"
}

# cosign signs and verifies blobs and images with a key pair, offline. Its main module is the
# wrapper, so release-utils reads the version from these ldflags (the Makefile's, without the
# commit and date a module zip does not carry).
COSIGN_VERSION=v2.6.5
cosign_cli() {
	build cosign cosign github.com/sigstore/cosign/v2/cmd/cosign \
		"-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
}

# Plugins go into the project's own PULUMI_HOME with `pulumi plugin install --file`, so the
# engine never tries to download one.
plugins() {
	local home=${PULUMI_HOME:-$CACHE/pulumi-home} stamp
	stamp=$(cat "$PROVIDERS/.pulumi-resource-kubernetes.pin")
	if [ "$(cat "$home/.kubernetes-plugin.pin" 2>/dev/null)" = "$stamp" ]; then
		log "kubernetes plugin $K8S_PROVIDER_VERSION installed in $home"
		return
	fi
	log "installing kubernetes plugin $K8S_PROVIDER_VERSION into $home"
	mkdir -p "$home"
	PULUMI_HOME=$home PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" plugin install resource kubernetes \
		"$K8S_PROVIDER_VERSION" --file "$PROVIDERS/pulumi-resource-kubernetes" --reinstall
	echo "$stamp" >"$home/.kubernetes-plugin.pin"
}

# The project's own binaries: the airgap provider plugin (installed into PULUMI_HOME when its
# build changes), the policy pack and the operator CLI (in .state/bin). Go's build cache makes
# an unchanged rebuild take about a second.
project_binaries() {
	local home=${PULUMI_HOME:-$CACHE/pulumi-home} out=$REPO/.state/bin sum
	mkdir -p "$out"
	log "building the airgap provider, the policy pack and the airgap CLI"
	go build -C "$REPO" -o "$PROVIDERS/pulumi-resource-airgap" ./provider/cmd/pulumi-resource-airgap
	go build -C "$REPO" -o "$out/airgap-site-policy" ./policy
	go build -C "$REPO" -o "$out/airgap" ./cmd/airgap
	sum=$(sha256sum "$PROVIDERS/pulumi-resource-airgap" | cut -c1-16)
	if [ "$(cat "$home/.airgap-plugin.pin" 2>/dev/null)" != "$sum" ]; then
		log "installing airgap plugin $AIRGAP_PROVIDER_VERSION into $home"
		mkdir -p "$home"
		PULUMI_HOME=$home PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" plugin install resource airgap \
			"$AIRGAP_PROVIDER_VERSION" --file "$PROVIDERS/pulumi-resource-airgap" --reinstall
		echo "$sum" >"$home/.airgap-plugin.pin"
	fi
}

# The pod images of the local site's real node (registry, pause, factory app), built offline
# from the registry binary above and tests/nodeimages into a bundle under their upstream names;
# rebuilt when the binary, those sources (or the bundle format's), the registry pin or the Go
# toolchain changes.
node_images() {
	local out=$CACHE/node-bundle fp start=$SECONDS
	if [ ! -x "$BIN/registry" ]; then
		log "node images: $BIN/registry is missing (run: scripts/setup.sh test_bed_tools)"
		return 1
	fi
	fp=$(cd "$REPO" && {
		sha256sum "$BIN/registry" | cut -d' ' -f1
		find tests/nodeimages bundle -name '*.go' ! -name '*_test.go' | LC_ALL=C sort | xargs sha256sum
		sha256sum siteconfig/defaults.go
		go env GOVERSION
	} | sha256sum | cut -c1-16)
	if [ -f "$out/index.json" ] && [ "$(cat "$CACHE/.node-bundle.pin" 2>/dev/null)" = "$fp" ]; then
		log "node images: $out is up to date"
	else
		log "node images: building registry, pause and factory app into $out ..."
		rm -rf "$out.tmp"
		go run -C "$REPO" ./tests/nodeimages --registry-binary "$BIN/registry" --out "$out.tmp" |
			while read -r line; do log "node images: $line"; done
		rm -rf "$out" && mv "$out.tmp" "$out"
		echo "$fp" >"$CACHE/.node-bundle.pin"
		log "node images: built in $((SECONDS - start)) s"
	fi
	sign_node_bundle "$out"
}

# sign_node_bundle signs the node bundle as an office signs a site's bundle (airgap sign, the
# cosign format), with the test bed's own key, made once on this machine: the dev stack trusts
# its public key (images.trustedKeys: .state/node-bundle.pub, linked by make demo).
sign_node_bundle() {
	local out=$1 key=$CACHE/node-bundle.key
	if [ ! -f "$key" ]; then
		(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key")
		openssl pkey -in "$key" -pubout -out "$CACHE/node-bundle.pub"
		log "node images: made the test bed's signing key $key"
	fi
	if [ ! -f "$out/bundle.json.sig" ] || [ "$out/bundle.json" -nt "$out/bundle.json.sig" ]; then
		COSIGN_PASSWORD='' "$REPO/.state/bin/airgap" sign --key "$key" "$out/bundle.json"
	fi
}

all() {
	debian_packages
	pulumi_cli
	language_go
	test_bed_tools
	cosign_cli
	node_containerd
	kubernetes_provider
	plugins
	kubernetes_control_plane
	project_binaries
	node_images
}

# main runs last, so bash has parsed the whole file before any step runs (editing the script
# during a long build cannot break the run).
main() {
	local start=$SECONDS
	log "tool cache: $BIN"
	if [ $# -eq 0 ]; then
		all
	else
		for step in "$@"; do "$step"; done
	fi
	log "done in $((SECONDS - start)) s"
}

main "$@"
