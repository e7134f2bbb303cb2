// Command pulumi-resource-airgap is the airgap resource provider plugin.
package main

import (
	"fmt"
	"os"

	"airgap-site/provider"
)

func main() {
	if err := provider.Main(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
