# Sourced by the Makefile's scripts: where the toolchain lives and how Pulumi runs offline.
# The passphrase below unlocks stacks/Pulumi.dev.yaml only (test-bed credentials); set
# PULUMI_CONFIG_PASSPHRASE yourself for a real site.
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export AIRGAP_CACHE=${AIRGAP_CACHE:-$HOME/.cache/airgap-site}
export PATH=$AIRGAP_CACHE/bin:$PATH
# The project's own Pulumi home: plugins installed by `make setup`, nothing from ~/.pulumi.
export PULUMI_HOME=${PULUMI_HOME:-$AIRGAP_CACHE/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# File state backend inside the repository (ignored by git).
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$REPO/.state/backend}
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-airgap-dev}
export SITE_DIR=${SITE_DIR:-$REPO/.state/site}
mkdir -p "$REPO/.state/backend"
# The policy pack binary (make setup builds it); pass it with --policy-pack.
export POLICY_PACK=$REPO/.state/bin/airgap-site-policy
