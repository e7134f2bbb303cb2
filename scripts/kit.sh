#!/usr/bin/env bash
# make kit: writes one directory an engineer copies to a laptop for the site visit. Nothing in
# it needs Go, the module cache or the internet: the pulumi CLI and language host, every
# provider plugin built here (as `pulumi plugin install --file` payloads), the compiled
# program (inside the airgap CLI: `airgap site up` runs it in-process through the Automation
# API, so no Go toolchain is needed), the policy pack, the stacks, the image bundle (when
# configured), checksums and the runbook.
#
#   scripts/kit.sh [DIR]      (default .state/kit; KIT_BUNDLE=<dir> adds an image bundle;
#                             KIT_SIGN_KEY=<cosign.key> signs SHA256SUMS, password in
#                             COSIGN_PASSWORD)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"
KIT=${1:-$REPO/.state/kit}
PROVIDERS=$AIRGAP_CACHE/providers
# The version the plugin binary reports (package contract embeds the same file).
AIRGAP_PROVIDER_VERSION=$(cat provider/contract/VERSION)
say() { printf '[kit] %s\n' "$*"; }

rm -rf "$KIT"
mkdir -p "$KIT"/{bin,plugins,policy,project/stacks}
say "toolchain: pulumi, pulumi-language-go, airgap (with the compiled site program)"
cp "$AIRGAP_CACHE/bin/pulumi" "$AIRGAP_CACHE/bin/pulumi-language-go" "$KIT/bin/"
go build -o "$KIT/bin/airgap" ./cmd/airgap
say "plugins: kubernetes 4.25.0, airgap $AIRGAP_PROVIDER_VERSION"
cp "$PROVIDERS/pulumi-resource-kubernetes" "$KIT/plugins/"
go build -o "$KIT/plugins/pulumi-resource-airgap" ./provider/cmd/pulumi-resource-airgap
say "policy pack"
go build -o "$KIT/policy/airgap-site-policy" ./policy
cp Pulumi.yaml "$KIT/project/"
cp stacks/*.yaml "$KIT/project/stacks/"
if [ -n "${KIT_BUNDLE:-}" ]; then
	say "image bundle from $KIT_BUNDLE"
	# -L: the bundle's links become files, which SHA256SUMS can vouch for.
	cp -RL "$KIT_BUNDLE" "$KIT/project/bundle"
fi
cp docs/RUNBOOK.md "$KIT/RUNBOOK.md"
cat >"$KIT/env.sh" <<'ENV'
# Source this in the kit directory: everything the kit needs, nothing from outside.
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=$KIT/bin:$PATH
export PULUMI_HOME=${PULUMI_HOME:-$KIT/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$KIT/state}
export POLICY_PACK=$KIT/policy/airgap-site-policy
mkdir -p "$KIT/state"
ENV
# The heredoc is quoted (its $ are install.sh's own); the plugin version is filled in here.
sed "s/@AIRGAP_PROVIDER_VERSION@/$AIRGAP_PROVIDER_VERSION/" >"$KIT/install.sh" <<'INSTALL'
#!/bin/bash
# Checks the kit against SHA256SUMS, then installs its plugins into PULUMI_HOME.
#
#   ./install.sh --key <office's cosign.pub>     (or AIRGAP_KIT_KEY=<file>)
#   ./install.sh --allow-unsigned                 (a kit built without KIT_SIGN_KEY; not recommended)
#
# SHA256SUMS.sig is checked first, with the system's openssl, against the office's public key,
# which must come from outside the kit (a key inside it would vouch for nothing).
#
# Nothing from the kit runs before the check has passed: the interpreter is /bin/bash (not the
# first bash on the caller's PATH), PATH is fixed to system directories, system tools are
# called by absolute path, and env.sh (which puts the kit's bin/ first on PATH) is sourced
# only afterwards. A tool planted in the kit, bin/sha256sum say, never gets to vouch for it.
# Every file of the kit must be listed, and every listed file present: the kit's own state/
# and pulumi-home/ are the only exceptions. SHA256SUMS guards against corruption and planted
# files, not against someone who rewrites SHA256SUMS too.
set -euo pipefail
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
key=${AIRGAP_KIT_KEY:-} allow_unsigned=0
while [ $# -gt 0 ]; do
	case $1 in
	--key) key=${2:-}; shift 2 || break ;;
	--allow-unsigned) allow_unsigned=1; shift ;;
	*) printf 'usage: install.sh --key <office cosign.pub> | --allow-unsigned\n' >&2; exit 2 ;;
	esac
done
if [ -n "$key" ]; then
	key=$(/usr/bin/realpath -e -- "$key") || { printf 'install.sh: the key %s does not exist\n' "$key" >&2; exit 1; }
fi
cd -- "$(/usr/bin/dirname -- "$0")"
kitdir=$(/usr/bin/pwd -P)

# The signature first: SHA256SUMS vouches for every file only if the office signed it.
if [ -n "$key" ]; then
	case $key in "$kitdir"/*)
		printf 'install.sh: the key %s is inside the kit: give the office public key kept outside it: refusing to install\n' "$key" >&2
		exit 1
		;;
	esac
	if [ -L SHA256SUMS.sig ] || [ ! -f SHA256SUMS.sig ]; then
		printf 'install.sh: SHA256SUMS.sig is missing: the kit is not signed (build it with KIT_SIGN_KEY): refusing to install\n' >&2
		exit 1
	fi
	sig=$(/usr/bin/mktemp)
	trap '/usr/bin/rm -f "$sig"' EXIT
	if ! /usr/bin/base64 -d SHA256SUMS.sig >"$sig" 2>/dev/null ||
		! /usr/bin/openssl dgst -sha256 -verify "$key" -signature "$sig" SHA256SUMS >/dev/null 2>&1; then
		printf 'install.sh: SHA256SUMS.sig does not verify with %s: the kit was changed, or signed with another key: refusing to install\n' "$key" >&2
		exit 1
	fi
	printf 'install.sh: SHA256SUMS is signed by %s\n' "$key" >&2
elif [ "$allow_unsigned" = 1 ]; then
	printf 'install.sh: WARNING: not checking a signature (--allow-unsigned): SHA256SUMS only finds corruption\n' >&2
else
	printf 'install.sh: give the office public key: ./install.sh --key <cosign.pub> (kept outside the kit): refusing to install\n' >&2
	exit 1
fi

bad=0
refuse() {
	printf 'install.sh: %s\n' "$*" >&2
	bad=1
}
if [ -L SHA256SUMS ] || [ ! -f SHA256SUMS ]; then
	printf 'install.sh: SHA256SUMS is missing: refusing to install\n' >&2
	exit 1
fi
# Each line is "<sha256>  ./<file>", as kit.sh writes it.
line_re='^[0-9a-f]{64}  (\./.+)$'
declare -A listed=()
n=0
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	if ! [[ $line =~ $line_re ]]; then
		refuse "SHA256SUMS line $n is not \"<sha256>  ./<file>\": $line"
		continue
	fi
	f=${BASH_REMATCH[1]}
	if [[ $f == */../* || $f == */.. ]]; then
		refuse "SHA256SUMS line $n names a file outside the kit: $f"
		continue
	fi
	listed[$f]=1
	if [ -L "$f" ] || [ ! -f "$f" ]; then
		refuse "$f is listed in SHA256SUMS but missing from the kit (or not a regular file)"
	fi
done <SHA256SUMS
while IFS= read -r -d '' f; do
	if [ -z "${listed[$f]:-}" ]; then
		refuse "$f is in the kit but not listed in SHA256SUMS"
	fi
done < <(/usr/bin/find . \( -path ./state -o -path ./pulumi-home \) -prune -o ! -type d ! -path ./SHA256SUMS ! -path ./SHA256SUMS.sig -print0)
wait $! || refuse "could not list the kit's files"
if ! /usr/bin/sha256sum --quiet --strict -c SHA256SUMS >&2; then
	refuse "files marked FAILED above do not match SHA256SUMS"
fi
if [ "$bad" != 0 ]; then
	printf 'install.sh: the kit is not as it was built: refusing to install (nothing in it was run)\n' >&2
	exit 1
fi

source ./env.sh
pulumi plugin install resource kubernetes 4.25.0 --file plugins/pulumi-resource-kubernetes --reinstall
pulumi plugin install resource airgap @AIRGAP_PROVIDER_VERSION@ --file plugins/pulumi-resource-airgap --reinstall
echo "kit installed: PULUMI_HOME=$PULUMI_HOME, state in $PULUMI_BACKEND_URL. Next: RUNBOOK.md"
INSTALL
chmod +x "$KIT/install.sh"
# SHA256SUMS lists every file but itself and what the kit writes at the site (state/,
# pulumi-home/), as install.sh expects: only regular files, so a link cannot stand in for one.
(
	cd "$KIT"
	odd=$(find . \( -path ./state -o -path ./pulumi-home \) -prune -o ! -type d ! -type f -print)
	if [ -n "$odd" ]; then
		printf '[kit] not regular files, install.sh would refuse them:\n%s\n' "$odd" >&2
		exit 1
	fi
	find . \( -path ./state -o -path ./pulumi-home \) -prune -o -type f ! -path ./SHA256SUMS -print0 | sort -z | xargs -0 sha256sum >SHA256SUMS
)
if [ -n "${KIT_SIGN_KEY:-}" ]; then
	"$KIT/bin/airgap" sign --key "$KIT_SIGN_KEY" "$KIT/SHA256SUMS"
	say "wrote $KIT ($(du -sh "$KIT" | cut -f1)); checksums in SHA256SUMS, signed into SHA256SUMS.sig"
else
	say "wrote $KIT ($(du -sh "$KIT" | cut -f1)); checksums in SHA256SUMS, NOT signed (set KIT_SIGN_KEY): install.sh will need --allow-unsigned"
fi
