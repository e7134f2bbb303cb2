#!/usr/bin/env bash
# make kit: writes one directory an engineer copies to a laptop for the site visit. Nothing in
# it needs Go, the module cache or the internet: the pulumi CLI and language host, every
# provider plugin built here (as `pulumi plugin install --file` payloads), the compiled
# program (inside the airgap CLI: `airgap site up` runs it in-process through the Automation
# API, so no Go toolchain is needed), the policy pack, the stacks, the image bundle (when
# configured), checksums and the runbook.
#
#   scripts/kit.sh [DIR]      (default .state/kit; KIT_BUNDLE=<dir> adds an image bundle)
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
	cp -r "$KIT_BUNDLE" "$KIT/project/bundle"
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
#!/usr/bin/env bash
# Checks the kit against SHA256SUMS, then installs its plugins into PULUMI_HOME.
set -euo pipefail
cd "$(dirname "$0")"
source ./env.sh
sha256sum --quiet -c SHA256SUMS
pulumi plugin install resource kubernetes 4.25.0 --file plugins/pulumi-resource-kubernetes --reinstall
pulumi plugin install resource airgap @AIRGAP_PROVIDER_VERSION@ --file plugins/pulumi-resource-airgap --reinstall
echo "kit installed: PULUMI_HOME=$PULUMI_HOME, state in $PULUMI_BACKEND_URL. Next: RUNBOOK.md"
INSTALL
chmod +x "$KIT/install.sh"
(cd "$KIT" && find . -type f ! -name SHA256SUMS ! -path './state/*' ! -path './pulumi-home/*' -print0 | sort -z | xargs -0 sha256sum >SHA256SUMS)
say "wrote $KIT ($(du -sh "$KIT" | cut -f1)); checksums in SHA256SUMS"
