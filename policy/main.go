// Command policy is the airgap-site policy pack: the air-gap invariants, enforced at every
// preview and update. Build it (make setup does) and pass the binary to the engine:
//
//	pulumi preview --policy-pack .state/bin/airgap-site-policy
//
// The checks themselves are pure functions in policy/checks; this file turns resource
// properties into plain values and reports what the checks find.
package main

import (
	"fmt"
	"os"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"airgap-site/siteconfig"
)

// PackName and PackVersion identify the pack in the engine's output.
const (
	PackName    = "airgap-site"
	PackVersion = "0.1.0"
)

// stackConfig is the stack's own config, which the engine hands the pack (decrypted) before
// any resource: the one source of exemptions a workload cannot write. nil when it does not
// load; the program then stops on the same errors, and the pack exempts nothing.
func stackConfig(ctx *pulumi.Context) *siteconfig.Config {
	cfg, _, err := siteconfig.Load(configSource{ctx}, ctx.Stack())
	if err != nil {
		return nil
	}
	return cfg
}

// configSource reads the stack config the engine gave the pack.
type configSource struct{ ctx *pulumi.Context }

func (c configSource) Get(key string) (string, bool) {
	return c.ctx.GetConfig(siteconfig.ConfigNamespace + ":" + key)
}

func (c configSource) IsSecret(key string) bool {
	return c.ctx.IsConfigSecret(siteconfig.ConfigNamespace + ":" + key)
}

func main() {
	err := policyx.Main(func(ctx *pulumi.Context) (policyx.PolicyPack, error) {
		return policyx.NewPolicyPack(PackName, semver.MustParse(PackVersion), policyx.EnforcementLevelMandatory, Policies(stackConfig(ctx)))
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
