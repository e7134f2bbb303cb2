#!/usr/bin/env bash
# make demo: start the local site, converge the dev stack with one `pulumi up`, print the
# outputs, then show that a second `pulumi preview` finds nothing to change.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"

say() { printf '\n==> %s\n' "$*"; }

say "starting the local site in $SITE_DIR"
go run ./tests/localsite up --dir "$SITE_DIR"
export KUBECONFIG=$SITE_DIR/kubeconfig

say "state backend $PULUMI_BACKEND_URL"
pulumi stack select dev 2>/dev/null || pulumi stack init dev

say "pulumi up -s dev --policy-pack $POLICY_PACK"
# --refresh: the local site may have been wiped since the last demo; state follows the cluster.
pulumi up -s dev --yes --refresh --skip-preview --policy-pack "$POLICY_PACK"

say "stack outputs"
pulumi stack output -s dev

say "pulumi preview -s dev (expect no changes)"
pulumi preview -s dev --expect-no-changes --policy-pack "$POLICY_PACK"
say "converged: a second preview has nothing to change. Stop the site with: make site-down"
