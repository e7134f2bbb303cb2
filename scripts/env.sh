# Sourced by the Makefile's scripts: where the toolchain lives and how Pulumi runs offline.
# The dev passphrase unlocks stacks/Pulumi.dev.yaml only (test-bed credentials). It is given
# to the dev stack alone: for a real site set AIRGAP_STACK=<site> and the site's own
# PULUMI_CONFIG_PASSPHRASE, or this file refuses to load.
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export AIRGAP_CACHE=${AIRGAP_CACHE:-$HOME/.cache/airgap-site}
# .state/bin: the airgap CLI and the policy pack that make setup builds from this checkout.
export PATH=$REPO/.state/bin:$AIRGAP_CACHE/bin:$PATH
# The project's own Pulumi home: plugins installed by `make setup`, nothing from ~/.pulumi.
export PULUMI_HOME=${PULUMI_HOME:-$AIRGAP_CACHE/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# File state backend inside the repository (ignored by git).
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$REPO/.state/backend}
AIRGAP_DEV_PASSPHRASE=airgap-dev
export AIRGAP_STACK=${AIRGAP_STACK:-dev}
if [ "$AIRGAP_STACK" = dev ]; then
  export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-$AIRGAP_DEV_PASSPHRASE}
elif [ -z "${PULUMI_CONFIG_PASSPHRASE-}" ] || [ "$PULUMI_CONFIG_PASSPHRASE" = "$AIRGAP_DEV_PASSPHRASE" ]; then
  echo "env.sh: refusing the dev passphrase for stack $AIRGAP_STACK: export PULUMI_CONFIG_PASSPHRASE=<that site's passphrase> first" >&2
  return 1 2>/dev/null || exit 1
fi
# pulumi, while the dev passphrase is set, refuses to work on any other stack (-s, -sNAME,
# -s=NAME, --stack, --stack=NAME, stack init/select): its secrets would be encrypted with a
# passphrase everyone knows. This is a convenience that fails early in this shell; the rule
# itself is the program's (components/site CheckPassphrase), which a child shell, a script or
# `airgap site` cannot get around.
source "$REPO/scripts/policy.sh"
pulumi() {
  if [ "${PULUMI_CONFIG_PASSPHRASE-}" = "$AIRGAP_DEV_PASSPHRASE" ]; then
    local arg prev="" stack=""
    for arg in "$@"; do
      case $prev in -s | --stack | init | select) stack=$arg ;; esac
      case $arg in
        --stack=*) stack=${arg#--stack=} ;;
        -s=*) stack=${arg#-s=} ;;
        -s?*) stack=${arg#-s} ;;
      esac
      prev=$arg
    done
    if [ -n "$stack" ] && [ "$stack" != dev ] && [ "${stack#-}" = "$stack" ]; then
      echo "pulumi: refusing the dev passphrase for stack $stack: export PULUMI_CONFIG_PASSPHRASE=<that site's passphrase> (and AIRGAP_STACK=$stack before sourcing env.sh)" >&2
      return 1
    fi
  fi
  # preview and up run the policy pack ($POLICY_PACK, which make setup builds) unless one is
  # given (scripts/policy.sh).
  if airgap_needs_policy "$@"; then
    if [ ! -e "$POLICY_PACK" ]; then
      echo "pulumi: the policy pack $POLICY_PACK is missing: run make setup (or pass --policy-pack)" >&2
      return 1
    fi
    set -- "$@" --policy-pack "$POLICY_PACK"
  fi
  command pulumi "$@"
}
export SITE_DIR=${SITE_DIR:-$REPO/.state/site}
mkdir -p "$REPO/.state/backend"
# The policy pack binary (make setup builds it); the pulumi function above adds it to every
# preview and up.
export POLICY_PACK=$REPO/.state/bin/airgap-site-policy
