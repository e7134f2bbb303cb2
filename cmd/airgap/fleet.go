package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"airgap-site/fleet"
)

func newFleetCmd() *cobra.Command {
	var opts fleet.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fleet [site...]",
		Short: "Preview every site (stack) concurrently and print one row per site",
		Long: `fleet previews each site of the project (every stacks/Pulumi.<site>.yaml, or the sites
named) with the Automation API, at most --concurrency at a time, and prints per site: planned
creates (+), updates (~), deletes (-) and replacements (+-), images to transfer (those the up
sends bytes for), the bytes the up sends to the site registry (read from the stack's state and
the bundle, without reaching the site; with the time they take at images.linkBytesPerSecond),
drift found by a refresh preview (--refresh), policy violations (--policy-pack) and whether the
site was reachable (yes, no, or unknown when its config cannot be read). A site whose config is invalid
or whose preview fails is a row with the reason (naming the field), and fleet then exits
non-zero. Template stack files (Pulumi.example.yaml) are skipped unless named. A stack without
resources says "never deployed". Run it with the same environment as pulumi (source
scripts/env.sh).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Stacks = args
			if opts.ProjectDir == "" {
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				opts.ProjectDir = wd
			}
			if !asJSON {
				opts.Progress = cmd.ErrOrStderr()
			}
			rows, err := fleet.Preview(cmd.Context(), opts)
			if err != nil {
				return err
			}
			write := fleet.WriteTable
			if asJSON {
				write = fleet.WriteJSON
			}
			if err := write(cmd.OutOrStdout(), rows); err != nil {
				return err
			}
			if failed := fleet.Failed(rows); len(failed) > 0 {
				cmd.SilenceUsage = true
				return fmt.Errorf("%d of %d sites failed: %s", len(failed), len(rows), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ProjectDir, "project", "", "project directory holding Pulumi.yaml (default: the current directory)")
	f.StringVar(&opts.StacksDir, "stacks-dir", "", "directory of the stack files (default: <project>/stacks)")
	f.IntVar(&opts.Concurrency, "concurrency", 2, "previews at once (each compiles and runs the program)")
	f.StringVar(&opts.PolicyPack, "policy-pack", "", "policy pack binary to run with every preview")
	f.BoolVar(&opts.Refresh, "refresh", false, "also run a refresh preview per reachable site to count drift")
	f.BoolVar(&asJSON, "json", false, "print the rows as JSON")
	return cmd
}
