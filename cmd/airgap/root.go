package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "airgap",
		Short: "Operator tools for air-gapped sites: bundle images, serve a bundle, preview the fleet, run a site",
		// Errors are printed once by cobra; a usage dump would bury them.
		SilenceUsage: true,
	}
	root.AddCommand(newBundleCmd(), newServeCmd(), newFleetCmd(), newSiteCmd(), newSignCmd())
	return root
}
