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
)

// PackName and PackVersion identify the pack in the engine's output.
const (
	PackName    = "airgap-site"
	PackVersion = "0.1.0"
)

func main() {
	err := policyx.Main(func(*pulumi.Context) (policyx.PolicyPack, error) {
		return policyx.NewPolicyPack(PackName, semver.MustParse(PackVersion), policyx.EnforcementLevelMandatory, Policies())
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
