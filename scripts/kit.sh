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
# pulumi-talos (talos.manage) and pulumi-minio (objectStore.tenant.adminEndpoint) travel when
# this office's PULUMI_HOME has them (pulumi plugin install, RUNBOOK): the site cannot download.
TALOS_PLUGIN_VERSION=$(sed -n 's/^const PluginVersion = "\(.*\)"$/\1/p' components/talos/bindings.go)
MINIO_PLUGIN_VERSION=$(sed -n 's/^const PluginVersion = "\(.*\)"$/\1/p' components/minio/bindings.go)
for p in talos:$TALOS_PLUGIN_VERSION minio:$MINIO_PLUGIN_VERSION; do
	f=$PULUMI_HOME/plugins/resource-${p%%:*}-v${p#*:}/pulumi-resource-${p%%:*}
	if [ -f "$f" ]; then
		say "plugins: ${p%%:*} ${p#*:} from $PULUMI_HOME"
		cp "$f" "$KIT/plugins/"
	else
		say "plugins: no ${p%%:*} ${p#*:} in $PULUMI_HOME: a site with it needs it installed there first"
	fi
done
say "policy pack"
go build -o "$KIT/policy/airgap-site-policy" ./policy
# The rule for when the kit's pulumi adds the pack: the same file as this checkout's env.sh.
cp scripts/policy.sh "$KIT/policy/policy.sh"
cp Pulumi.yaml "$KIT/project/"
cp stacks/*.yaml "$KIT/project/stacks/"
if [ -n "${KIT_BUNDLE:-}" ]; then
	say "image bundle from $KIT_BUNDLE"
	# -L: the bundle's links become files, which SHA256SUMS can vouch for.
	cp -RL "$KIT_BUNDLE" "$KIT/project/bundle"
fi
cp docs/RUNBOOK.md "$KIT/RUNBOOK.md"
cat >"$KIT/env.sh" <<'ENV'
# Source this in the kit directory: everything the kit needs, nothing from outside. It
# re-checks the kit first (check.sh) and refuses to set anything up if the check fails.
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PULUMI_HOME=${PULUMI_HOME:-$KIT/pulumi-home}
if ! /bin/bash "$KIT/check.sh"; then
  echo "env.sh: the kit is not as installed: nothing was set up; verify the kit from outside again (RUNBOOK.md)" >&2
  return 1 2>/dev/null || exit 1
fi
export PATH=$KIT/bin:$PATH
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$KIT/state}
export POLICY_PACK=$KIT/policy/airgap-site-policy
mkdir -p "$KIT/state"
# preview and up run the kit's policy pack unless one is given (policy/policy.sh, checked above).
source "$KIT/policy/policy.sh"
pulumi() {
  if airgap_needs_policy "$@"; then set -- "$@" --policy-pack "$POLICY_PACK"; fi
  command pulumi "$@"
}
ENV
# check.sh re-checks, before each use (env.sh runs it), what runs: bin/, plugins/ and policy/
# hold exactly the files SHA256SUMS lists, unchanged, and PULUMI_HOME's plugins are only the
# ones install.sh installed from the kit, byte for byte. Quoted heredoc; versions filled in.
sed -e "s/@AIRGAP_PROVIDER_VERSION@/$AIRGAP_PROVIDER_VERSION/" -e "s/@TALOS_PLUGIN_VERSION@/$TALOS_PLUGIN_VERSION/" \
	-e "s/@MINIO_PLUGIN_VERSION@/$MINIO_PLUGIN_VERSION/" >"$KIT/check.sh" <<'CHECK'
#!/bin/bash
# Re-checks the kit before each use (env.sh runs it; install.sh after installing). It reads
# nothing from the kit's bin/ (PATH is fixed to system directories). It finds files changed or
# planted after the kit was verified (a plugin dropped into pulumi-home/plugins, a tool into
# bin/); whoever can rewrite the kit's scripts can defeat it: verify the kit from outside it
# (RUNBOOK.md) whenever in doubt.
set -euo pipefail
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
kit=$(cd -- "$(/usr/bin/dirname -- "${BASH_SOURCE[0]}")" && /usr/bin/pwd -P)
home=${PULUMI_HOME:-$kit/pulumi-home}
cd -- "$kit"
bad=0
refuse() {
	printf 'kit check: %s
' "$*" >&2
	bad=1
}
if [ -L SHA256SUMS ] || [ ! -f SHA256SUMS ]; then
	printf 'kit check: SHA256SUMS is missing: refusing\n' >&2
	exit 1
fi
declare -A sum=()
while IFS= read -r line || [ -n "$line" ]; do
	if [[ $line =~ ^([0-9a-f]{64})\ \ (\./.+)$ ]]; then
		sum[${BASH_REMATCH[2]}]=${BASH_REMATCH[1]}
	else
		refuse "SHA256SUMS has a line that is not \"<sha256>  ./<file>\": $line"
	fi
done <SHA256SUMS
# What runs is listed, unchanged, and alone in its directory.
while IFS= read -r -d '' f; do
	[ -n "${sum[$f]:-}" ] || refuse "$f is in the kit but not listed in SHA256SUMS (planted?)"
done < <(/usr/bin/find ./bin ./plugins ./policy ! -type d -print0)
list=$(/usr/bin/mktemp)
trap '/usr/bin/rm -f "$list"' EXIT
for f in "${!sum[@]}"; do
	case $f in ./bin/* | ./plugins/* | ./policy/* | ./env.sh | ./check.sh | ./install.sh) printf '%s  %s\n' "${sum[$f]}" "$f" >>"$list" ;; esac
done
if ! /usr/bin/sha256sum --quiet --strict -c "$list" >&2; then
	refuse "files marked FAILED above do not match SHA256SUMS"
fi
# PULUMI_HOME's plugins: only the kit's own, as install.sh installed them.
declare -A plugin=(
	[resource-kubernetes-v4.25.0]=pulumi-resource-kubernetes
	[resource-airgap-v@AIRGAP_PROVIDER_VERSION@]=pulumi-resource-airgap
	[resource-talos-v@TALOS_PLUGIN_VERSION@]=pulumi-resource-talos
	[resource-minio-v@MINIO_PLUGIN_VERSION@]=pulumi-resource-minio
)
if [ -d "$home/plugins" ]; then
	for entry in "$home"/plugins/* "$home"/plugins/.[!.]*; do
		[ -e "$entry" ] || [ -L "$entry" ] || continue
		name=${entry##*/}
		# Beside each plugin directory pulumi keeps a .lock and a .lastused file.
		dir=${name%.lock}
		dir=${dir%.lastused}
		bin=${plugin[$dir]:-}
		# talos and minio only when the kit carries them (listed in SHA256SUMS).
		[ -n "${sum[./plugins/$bin]:-}" ] || bin=""
		if [ -z "$bin" ]; then
			refuse "$entry is a plugin the kit did not install (planted?): only the kit's plugins/ (kubernetes 4.25.0, airgap @AIRGAP_PROVIDER_VERSION@, talos @TALOS_PLUGIN_VERSION@ and minio @MINIO_PLUGIN_VERSION@ when it carries them) may be in PULUMI_HOME"
			continue
		fi
		if [ "$name" != "$dir" ]; then
			[ -f "$entry" ] && [ ! -L "$entry" ] || refuse "$entry is not the lock or last-used file pulumi writes"
			continue
		fi
		if [ -L "$entry" ] || [ ! -d "$entry" ]; then
			refuse "$entry is not a plugin directory"
			continue
		fi
		while IFS= read -r -d '' f; do
			if [ "$f" != "$entry/$bin" ]; then
				refuse "$f is not part of the plugin the kit installed (planted?)"
			elif [ -L "$f" ] || [ ! -f "$f" ]; then
				refuse "$f is not a regular file"
			elif [ "$(/usr/bin/sha256sum <"$f" | /usr/bin/cut -d' ' -f1)" != "${sum[./plugins/$bin]:-}" ]; then
				refuse "$f differs from the kit's plugins/$bin"
			fi
		done < <(/usr/bin/find "$entry" -mindepth 1 ! -type d -print0)
	done
fi
if [ "$bad" != 0 ]; then
	printf 'kit check: refusing: the kit (or its PULUMI_HOME %s) is not as installed\n' "$home" >&2
	exit 1
fi
CHECK
chmod +x "$KIT/check.sh"
# The heredoc is quoted (its $ are install.sh's own); the plugin version is filled in here.
sed -e "s/@AIRGAP_PROVIDER_VERSION@/$AIRGAP_PROVIDER_VERSION/" -e "s/@TALOS_PLUGIN_VERSION@/$TALOS_PLUGIN_VERSION/" \
	-e "s/@MINIO_PLUGIN_VERSION@/$MINIO_PLUGIN_VERSION/" >"$KIT/install.sh" <<'INSTALL'
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
# Every file of the kit must be listed, and every listed file present; state/ and pulumi-home/
# must hold no file yet (a kit arrives without them: anything there was planted). SHA256SUMS
# guards against corruption and planted files, not against someone who rewrites SHA256SUMS
# too. install.sh travels in the kit it checks: verify the kit from outside it first, with
# system tools and the office key (RUNBOOK.md; `make kit` prints the commands).
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
done < <(/usr/bin/find . ! -type d ! -path ./SHA256SUMS ! -path ./SHA256SUMS.sig -print0)
wait $! || refuse "could not list the kit's files"
home=${PULUMI_HOME:-$kitdir/pulumi-home}
if [ -d "$home" ] && [ -n "$(/usr/bin/find "$home" -mindepth 1 ! -type d -print -quit)" ]; then
	refuse "PULUMI_HOME $home already holds files: install into an empty one (remove it to reinstall)"
fi
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
if [ -f plugins/pulumi-resource-talos ]; then
	pulumi plugin install resource talos @TALOS_PLUGIN_VERSION@ --file plugins/pulumi-resource-talos --reinstall
fi
if [ -f plugins/pulumi-resource-minio ]; then
	pulumi plugin install resource minio @MINIO_PLUGIN_VERSION@ --file plugins/pulumi-resource-minio --reinstall
fi
/bin/bash ./check.sh
echo "kit installed: PULUMI_HOME=$PULUMI_HOME, state in $PULUMI_BACKEND_URL. Next: RUNBOOK.md"
INSTALL
chmod +x "$KIT/install.sh"
# SHA256SUMS lists every file but itself and its signature (state/ and pulumi-home/ do not
# exist yet): only regular files, so a link cannot stand in for one.
(
	cd "$KIT"
	odd=$(find . ! -type d ! -type f -print)
	if [ -n "$odd" ]; then
		printf '[kit] not regular files, install.sh would refuse them:\n%s\n' "$odd" >&2
		exit 1
	fi
	find . -type f ! -path ./SHA256SUMS -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >SHA256SUMS
)
digest=$(sha256sum "$KIT/SHA256SUMS" | cut -d' ' -f1)
signature=""
if [ -n "${KIT_SIGN_KEY:-}" ]; then
	"$KIT/bin/airgap" sign --key "$KIT_SIGN_KEY" "$KIT/SHA256SUMS"
	say "wrote $KIT ($(du -sh "$KIT" | cut -f1)); checksums in SHA256SUMS, signed into SHA256SUMS.sig"
	signature='openssl dgst -sha256 -verify "$OFFICE_PUB" -signature <(base64 -d "$KIT/SHA256SUMS.sig") "$KIT/SHA256SUMS" &&'
else
	say "wrote $KIT ($(du -sh "$KIT" | cut -f1)); checksums in SHA256SUMS, NOT signed (set KIT_SIGN_KEY): install.sh will need --allow-unsigned, and the digest below is all that vouches for the kit"
fi
# What the engineer compares, from outside the kit (nothing in it runs): the digest of
# SHA256SUMS (give it by a second channel), the signature with the office key kept outside
# the kit, every listed file, and nothing unlisted (state/ and pulumi-home/ included).
say "SHA256SUMS digest: $digest (give it to the site engineer by a second channel, not with the kit)"
say "verify the kit from outside it before running anything in it, in bash, with the office public key kept outside the kit:"
cat <<VERIFY
    OFFICE_PUB=/path/to/office/cosign.pub KIT=$KIT
    echo "$digest  \$KIT/SHA256SUMS" | sha256sum --quiet --strict -c - &&
    ${signature:+$signature
    }(cd "\$KIT" && sha256sum --quiet --strict -c SHA256SUMS) &&
    (cd "\$KIT" && find . ! -type d ! -path ./SHA256SUMS ! -path ./SHA256SUMS.sig | LC_ALL=C sort | diff - <(cut -c67- SHA256SUMS | LC_ALL=C sort)) &&
    echo "kit verified"
VERIFY
