// Command airgap-site is the Pulumi program that converges one air-gapped factory site per
// stack (stacks/Pulumi.<site>.yaml).
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/site"
)

func main() {
	pulumi.Run(site.Program)
}
