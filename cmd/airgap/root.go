package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "airgap",
		Short: "Carry a site's images across the air gap",
		// Errors are printed once by cobra; a usage dump would bury them.
		SilenceUsage: true,
	}
	root.AddCommand(newBundleCmd(), newServeCmd())
	return root
}
